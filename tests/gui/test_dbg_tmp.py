from tests.gui.test_main_window import temp_qsettings, window, WAIT_MS  # noqa
def test_dbg(qtbot, window, tiny_model_dir):
    specs=[]
    window.model_panel.sig_model_changed.connect(lambda i: specs.append((window.model_panel.model_spec(), i and i.num_layers)))
    window.model_panel.choose_folder(str(tiny_model_dir))
    qtbot.waitUntil(lambda: window.model_panel.model_spec() == str(tiny_model_dir)
                    and window.layers_view.plan() is not None, timeout=WAIT_MS)
    qtbot.wait(3000)
    print(specs, window.model_panel.model_spec(), len(window.layers_view.plan().rows))
    assert 0
