"""How TensorBoard finds and loads kerasfg's plugin: the entry point, its flags, and no TensorFlow import."""

import importlib.metadata

from tensorboard import default, program

from kerasfg.tensorboard.plugin import ALL_SAMPLES, DEFAULT_SAMPLES, KerasfgLoader, KerasfgPlugin


def test_the_installed_distribution_declares_the_tensorboard_entry_point():
    (entry_point,) = importlib.metadata.entry_points(group="tensorboard_plugins", name="kerasfg")
    assert entry_point.value == "kerasfg.tensorboard.plugin:KerasfgLoader"
    assert entry_point.load() is KerasfgLoader


def test_the_plugin_imports_neither_tensorflow_nor_keras(checkout_python, tmp_path):
    script = ("import sys, kerasfg.tensorboard.plugin, kerasfg.tensorboard.plugin_data; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = checkout_python("-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _flags(*argv):
    server = program.TensorBoard(plugins=[*default.get_static_plugins(), KerasfgLoader])
    server.configure(argv=["tensorboard", "--logdir=unused", *argv])
    return server.flags


def test_tensorboard_keeps_every_step_up_to_the_default_unless_told_otherwise():
    assert _flags().samples_per_plugin == {"kerasfg": DEFAULT_SAMPLES}
    assert _flags("--samples_per_plugin", "images=20").samples_per_plugin == {"images": 20,
                                                                               "kerasfg": DEFAULT_SAMPLES}
    assert _flags("--samples_per_plugin", "kerasfg=5").samples_per_plugin == {"kerasfg": 5}


class _Context:
    def __init__(self, hints):
        self.data_provider = None
        self.sampling_hints = hints


def test_the_plugin_reads_as_many_steps_as_tensorboard_keeps():
    assert KerasfgPlugin(_Context({"kerasfg": 5}))._recordings._downsample == 5
    assert KerasfgPlugin(_Context({"kerasfg": 0}))._recordings._downsample == ALL_SAMPLES  # 0 keeps all
    assert KerasfgPlugin(_Context(None))._recordings._downsample == DEFAULT_SAMPLES


def test_the_frontend_is_an_es_module_tab_and_every_route_is_known():
    plugin = KerasfgPlugin(_Context(None))
    frontend = plugin.frontend_metadata()
    assert (frontend.tab_name, frontend.es_module_path) == ("kerasfg", "/index.js")
    assert sorted(plugin.get_plugin_apps()) == ["/annotations", "/index.js", "/picture", "/pictures", "/runs",
                                                "/steps", "/style.css", "/table"]
