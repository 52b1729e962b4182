"""Predictions off the UI thread, with loaded models kept warm between requests.

`PredictService` lives on the main thread and owns one `PredictWorker` moved to its own QThread.
Requests cross by queued signal; answers come back by signal. Loading a checkpoint takes seconds,
predicting one text milliseconds, so the worker caches `Predictor`s by folder (and the folder's
identity on disk, because training replaces `last/` and `best/` while the tester is open).

Typing sends a request per pause in typing; only the newest request of each slot matters, so the
service records the newest id per slot and the worker drops any request (or result) that has been
superseded by the time it gets to it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from ftstudio.engine.errors import StopRequested, user_message
from ftstudio.gui.heavy_imports import import_transformers

log = logging.getLogger(__name__)
# Models are a few hundred MB each; a handful covers "this run vs base vs another checkpoint".
_CACHE_SIZE = 4
# What running out of memory means here: the model (or the cache of them) did not fit.
OUT_OF_MEMORY = "Out of memory while loading the model. Close other runs or pick a smaller checkpoint."


class _RequestBook:
    """Newest request id per slot, shared by the service (writer) and the worker (reader)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, int] = {}
        self._next = 0

    def issue(self, slot: str) -> int:
        with self._lock:
            self._next += 1
            self._latest[slot] = self._next
            return self._next

    def cancel(self, slot: str) -> None:
        with self._lock:
            self._next += 1
            self._latest[slot] = self._next

    def is_current(self, slot: str, request_id: int) -> bool:
        with self._lock:
            return self._latest.get(slot) == request_id


class _EvalControl:
    """Duck-typed stand-in for the engine's TrainingControl: evaluation polls `check()`."""

    def __init__(self, book: _RequestBook, slot: str, request_id: int, stopping: threading.Event) -> None:
        self._book, self._slot, self._id, self._stopping = book, slot, request_id, stopping

    @property
    def stop_requested(self) -> bool:
        return self._stopping.is_set() or not self._book.is_current(self._slot, self._id)

    pause_requested = False

    def check(self, reporter: Any = None, resume_status: str = "") -> None:
        if self.stop_requested:
            raise StopRequested()


def _folder_identity(spec: str) -> tuple:
    """What changes when training swaps a checkpoint folder in place (a new inode and mtime)."""
    path = Path(spec)
    parts = []
    for candidate in (path, path / "config.json", path / "best", path / "last"):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        parts.append((candidate.name, st.st_ino, st.st_mtime_ns))
    return tuple(parts)


def _plain(value: Any) -> Any:
    """Engine result objects as plain dicts, so the GUI does not depend on their classes."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class PredictWorker(QObject):
    """Loads predictors and answers requests; lives on `PredictService`'s thread.

    Signals (payloads are dicts carrying the request's `id`, `slot` and `kind`):
      sig_busy(object): a stage began: `stage` is "loading" (model load, seconds), "predicting"
        or "evaluating"; `path` is the model being used; once the model is loaded, also what
        `model_facts` gives (`task`, `task_state`, `takes_pairs`).
      sig_progress(object): file evaluation progress, `done` and `total` rows.
      sig_result(object): for a "language" request: `objective`, `mask_token`, `head_is_new`,
        `text`, and `masks` (per mask [{token, score, sequence}]) or `continuation` and
        `next_tokens`, or `evaluation` (text_perplexity's dict, for a file). Otherwise the model's facts, `label_names` and `predictions` (Prediction dicts:
        label, score, and the task's fields: probabilities; labels and thresholds; value; entities), or
        `evaluation` (the engine's evaluate_file result as a dict). A pair model asked without
        second texts answers with no predictions and `takes_pairs` True. The answer of a request
        that loaded its model has `note` when the model is a LoRA adapter: on a base model loaded
        now, or "adapter switched, base model reused".
      sig_failed(object): `message`, written for the user.
    """

    sig_busy = Signal(object)
    sig_progress = Signal(object)
    sig_result = Signal(object)
    sig_failed = Signal(object)

    def __init__(self, book: _RequestBook, stopping: threading.Event) -> None:
        super().__init__()
        self._book = book
        self._stopping = stopping
        self._cache: OrderedDict[tuple, Any] = OrderedDict()

    # ------------------------------------------------------------ requests (worker thread)
    @Slot(object)
    def _on_request(self, request: dict) -> None:
        if not self._wanted(request):
            return
        try:
            predictor = self._predictor(request)
            if not self._wanted(request):
                return
            if request["kind"] == "predict":
                self._predict(request, predictor)
            elif request["kind"] == "language":
                self._language(request, predictor)
            else:
                self._evaluate(request, predictor)
        except Exception as exc:  # every failure becomes a message; the thread must live on
            if isinstance(exc, StopRequested) or not self._wanted(request):
                return
            self.sig_failed.emit({**_head(request), "message": user_message(exc, out_of_memory=OUT_OF_MEMORY)})

    def _wanted(self, request: dict) -> bool:
        return not self._stopping.is_set() and self._book.is_current(request["slot"], request["id"])

    def _predictor(self, request: dict) -> Any:
        model = request["model"]
        options = request.get("options") or {}
        key = (model, _folder_identity(model), repr(sorted(options.items())))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        self.sig_busy.emit({**_head(request), "stage": "loading", "path": model})
        request["loaded"] = True  # (this request's answer says how: a note for an adapter)
        import_transformers()  # whole, before the Setup tab's data work can see it half-imported
        from ftstudio.engine.predict.predictor import Predictor  # torch import: seconds, so only here

        if request["kind"] == "language":  # a pre-training run's checkpoint, or the model it started from
            from ftstudio.gui.tester.language_requests import load_language_model

            predictor = load_language_model(model, options)
        elif options.get("label_names"):
            # The base model: the spec loaded with a fresh head for the run's labels and task
            # (a regression head in the run's units, a pair model fed pairs), so the 'before'
            # column shows the same kind of answer as the 'after' one.
            predictor = Predictor.base_model(
                model,
                list(options["label_names"]),
                task=str(options.get("task") or "single-label"),
                task_state=dict(options.get("task_state") or {}),
            )
        else:
            # A LoRA run's checkpoints (best/ and last/ too) load as their adapter on a shared
            # base model: switching between them attaches an adapter instead of loading a model.
            predictor = Predictor(model, prefer_adapter=True)
        # Drop stale entries for the same folder (training replaced it) before the LRU cut.
        for old in [k for k in self._cache if k[0] == model and k[2] == key[2]]:
            del self._cache[old]
        self._cache[key] = predictor
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return predictor

    def _predict(self, request: dict, predictor: Any) -> None:
        facts = model_facts(predictor)
        self.sig_busy.emit({**_head(request), "stage": "predicting", "path": request["model"], **facts})
        pairs = request.get("pairs")
        answer = {**_head(request), **facts, "path": request["model"], "texts": list(request["texts"]),
                  "label_names": list(predictor.label_names), **_load_note(request, predictor)}
        if predictor.takes_pairs and pairs is None:
            # Not an error: the panel learns the model wants a second text and asks for it.
            self.sig_result.emit({**answer, "predictions": []})
            return
        second = list(pairs) if predictor.takes_pairs else None  # a single-text model ignores pairs
        predictions = predictor.predict(list(request["texts"]), pairs=second)
        if self._wanted(request):
            self.sig_result.emit({**answer, "predictions": [_plain(p) for p in predictions]})

    def _language(self, request: dict, predictor: Any) -> None:
        from ftstudio.gui.tester.language_requests import language_answer, language_facts

        self.sig_busy.emit({**_head(request), "stage": "predicting", "path": request["model"],
                            **language_facts(predictor)})
        control = _EvalControl(self._book, request["slot"], request["id"], self._stopping)
        answer = language_answer(predictor, request.get("text"), request.get("options") or {}, control)
        if self._wanted(request):
            self.sig_result.emit({**_head(request), "path": request["model"], "text": request.get("text"), **answer})

    def _evaluate(self, request: dict, predictor: Any) -> None:
        from ftstudio.engine.predict.file_evaluation import evaluate_file

        self.sig_busy.emit({**_head(request), "stage": "evaluating", "path": request["model"]})
        last = [-1]

        def progress(done: int, total: int, *_: Any) -> None:
            # Emit only on whole-percent changes: a signal per row would flood the UI thread.
            step = int(100 * done / total) if total else 0
            if step != last[0] or done == total:
                last[0] = step
                self.sig_progress.emit({**_head(request), "done": int(done), "total": int(total)})

        control = _EvalControl(self._book, request["slot"], request["id"], self._stopping)
        result = evaluate_file(predictor, request["data"], control=control, progress=progress)
        if self._wanted(request):
            evaluation = _plain(result)
            evaluation.setdefault("label_names", list(predictor.label_names))
            evaluation.setdefault("task", predictor.task.name)
            evaluation["task_state"] = _plain(dict(predictor.task_state))
            self.sig_result.emit(
                {**_head(request), **model_facts(predictor), "path": request["model"], "evaluation": evaluation}
            )


def _load_note(request: dict, predictor: Any) -> dict:
    """{"note": how an adapter was just loaded} for the request that loaded it, else {}."""
    note = getattr(predictor, "load_note", None) if request.get("loaded") else None
    if note:
        log.info("%s: %s", request["model"], note)
    return {"note": note} if note else {}


def _head(request: dict) -> dict:
    return {"id": request["id"], "slot": request["slot"], "kind": request["kind"]}


def model_facts(predictor: Any) -> dict:
    """What the panel needs to know about a loaded model: its task's name, the task state saved
    with it (a regression's training scale, a pair model's columns) and whether it takes pairs."""
    return {
        "task": predictor.task.name,
        "task_state": _plain(dict(predictor.task_state)),
        "takes_pairs": bool(predictor.takes_pairs),
    }


class PredictService(QObject):
    """The main thread's handle on prediction: submit requests, receive answers by signal.

    A slot names a consumer ("a", "b", "file"...): a new request in a slot supersedes the older
    one. Call `shutdown()` before the owner goes away (the owning panel does so on close).

    Signals:
      sig_busy(object), sig_progress(object), sig_result(object): as `PredictWorker`'s.
      sig_failed(object): {id, slot, kind, message}, for routing an error to its column.
      sig_error(str): the same message alone, for consumers that only show text.
    """

    sig_busy = Signal(object)
    sig_progress = Signal(object)
    sig_result = Signal(object)
    sig_failed = Signal(object)
    sig_error = Signal(str)
    _sig_request = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._book = _RequestBook()
        self._stopping = threading.Event()
        self._thread: QThread | None = QThread()
        self._thread.setObjectName("ftstudio-predict")
        self._worker: PredictWorker | None = PredictWorker(self._book, self._stopping)
        self._worker.moveToThread(self._thread)
        self._sig_request.connect(self._worker._on_request)
        self._worker.sig_busy.connect(self._on_busy)
        self._worker.sig_progress.connect(self._on_progress)
        self._worker.sig_result.connect(self._on_result)
        self._worker.sig_failed.connect(self._on_failed)
        self._thread.start()
        # Safety net for owners that forget: never quit the app with the thread still running.
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ requests
    def predict(self, slot: str, model: str, texts: list[str], pairs: list[str] | None = None,
                **options: Any) -> int:
        """Ask for predictions of `texts` (with their second texts `pairs`, for a pair model) by
        `model`, a checkpoint or run folder; returns the id. Pairs given to a single-text model
        are ignored.

        With `label_names=[...]` (and `task`, `task_state`), `model` is a model spec loaded with a
        fresh, untrained head for those labels (the "base model" of a comparison).
        """
        return self._submit(
            {"kind": "predict", "slot": slot, "model": str(model), "texts": list(texts),
             "pairs": list(pairs) if pairs is not None else None, "options": options}
        )

    def language(self, slot: str, model: str, text: str | None, **options: Any) -> int:
        """Ask a language model (a pre-training checkpoint, or with `base=True` and `objective`
        the model spec a run started from) about `text`: the guesses for its masks, or its
        continuation and next tokens (`top_k`, `max_new_tokens`), or with `file` its perplexity
        on a text file. `text` None (and no file) only loads the model and reports its facts
        (objective, mask token, whether its head is untrained)."""
        return self._submit({"kind": "language", "slot": slot, "model": str(model), "text": text,
                             "options": options})

    def evaluate(self, slot: str, model: str, data: str, **options: Any) -> int:
        """Ask for `evaluate_file` of the data file `data` with `model`; returns the request id."""
        return self._submit(
            {"kind": "evaluate", "slot": slot, "model": str(model), "data": str(data), "options": options}
        )

    def cancel(self, slot: str) -> None:
        """Forget the slot's pending request (a running file evaluation stops at its next check)."""
        self._book.cancel(slot)

    def is_current(self, slot: str, request_id: int) -> bool:
        return self._book.is_current(slot, request_id)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _submit(self, request: dict) -> int:
        if self._thread is None:
            raise RuntimeError("PredictService was shut down")
        request["id"] = self._book.issue(request["slot"])
        self._sig_request.emit(request)
        return request["id"]

    # ------------------------------------------------------------------ answers (main thread)
    # Re-checked here as well: a result may be in flight when the user types the next letter.
    @Slot(object)
    def _on_busy(self, info: dict) -> None:
        if self._book.is_current(info["slot"], info["id"]):
            self.sig_busy.emit(info)

    @Slot(object)
    def _on_progress(self, info: dict) -> None:
        if self._book.is_current(info["slot"], info["id"]):
            self.sig_progress.emit(info)

    @Slot(object)
    def _on_result(self, info: dict) -> None:
        if self._book.is_current(info["slot"], info["id"]):
            self.sig_result.emit(info)

    @Slot(object)
    def _on_failed(self, info: dict) -> None:
        if self._book.is_current(info["slot"], info["id"]):
            self.sig_failed.emit(info)
            self.sig_error.emit(info["message"])

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop taking requests, let the current one end, and join the thread.

        A model load cannot be interrupted, so the wait is generous; pending requests are dropped
        (the stopping flag makes the worker skip them) and a file evaluation stops at its next row
        batch. Returns False if the thread did not end within `timeout_ms`.
        """
        if self._thread is None:
            return True
        self._stopping.set()
        try:
            self._sig_request.disconnect()
        except (RuntimeError, TypeError):
            pass
        thread, self._thread = self._thread, None
        thread.quit()
        finished = thread.wait(timeout_ms)
        if finished:
            # Both are owned by Python: dropping the references deletes them here, on the main
            # thread, after their thread has ended (models are freed with the worker's cache).
            self._worker = None
        else:
            self._unfinished = thread  # keep it referenced: destroying a running QThread aborts
        return bool(finished)
