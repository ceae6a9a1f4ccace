"""kerasfg's TensorBoard plugin: the **kerasfg** tab, which shows what kerasfg's callbacks recorded.

TensorBoard finds it through the ``tensorboard_plugins`` entry point of the kerasfg distribution and
loads `KerasfgLoader`. The plugin reads through ``context.data_provider`` (never the legacy multiplexer),
so it works with the Rust data server (``--load_fast=true``, TensorBoard's default) and with
``--load_fast=false`` alike. Its frontend is plain ES-module JavaScript and CSS bundled in
``kerasfg/tensorboard/static/``, served from a fixed list of files.

Routes, under ``/data/plugin/kerasfg``:

- ``/index.js``, ``/style.css``: the frontend.
- ``/runs``: ``{run: [recording, ...]}``, every kerasfg recording with its kind, content and steps.
- ``/steps?run&tag``: the steps of one recording.
- ``/pictures?run&tag&step``: all pictures of one step, base64 PNGs with their sizes.
- ``/picture?run&tag&step&index``: one picture, ``image/png``.
- ``/table?run&tag&step``: the columns and rows of a table recording.
- ``/annotations?run&tag&step``: the annotations of one step (what changes from step to step, such as
  a deconvolution's feature maps); ``tag`` is the one that a recording's content names as ``annotations``.

Bad parameters (unknown run, tag, step or index, malformed numbers) get HTTP 400 with a message.
This module imports no TensorFlow.
"""

import pathlib

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from kerasfg.tensorboard import metadata
from kerasfg.tensorboard.plugin_data import BadRequest, Recordings

STATIC_DIR = pathlib.Path(__file__).parent / "static"
STATIC_FILES = {"/index.js": ("index.js", "text/javascript"), "/style.css": ("style.css", "text/css")}
DEFAULT_SAMPLES = 1000
"""Steps per recording that TensorBoard keeps unless ``--samples_per_plugin kerasfg=N`` says otherwise
(TensorBoard's own default for third-party plugins is 10)."""
ALL_SAMPLES = 2**31 - 1
"""What the plugin asks the data provider for when ``--samples_per_plugin kerasfg=0`` keeps every step."""


class KerasfgPlugin(base_plugin.TBPlugin):
    """The kerasfg tab of TensorBoard.

    Args:
        context: a `tensorboard.plugins.base_plugin.TBContext`.
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        super().__init__(context)
        kept = (context.sampling_hints or {}).get(self.plugin_name, DEFAULT_SAMPLES)
        self._recordings = Recordings(context.data_provider, downsample=kept if kept > 0 else ALL_SAMPLES)

    def is_active(self):
        # TensorBoard enables the tab when the data provider lists data of this plugin.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="kerasfg")

    def get_plugin_apps(self):
        apps = {route: self._static(name, content_type) for route, (name, content_type) in STATIC_FILES.items()}
        apps.update({
            "/runs": self._json(lambda ctx, eid, args: self._recordings.runs(ctx, eid)),
            "/steps": self._json(self._recordings.steps),
            "/pictures": self._json(self._recordings.pictures),
            "/table": self._json(self._recordings.table),
            "/annotations": self._json(self._recordings.annotations),
            "/picture": self._answer(self._recordings.picture, "image/png"),
        })
        return apps

    @staticmethod
    def _static(name, content_type):
        @wrappers.Request.application
        def serve(request):
            return http_util.Respond(request, (STATIC_DIR / name).read_bytes(), content_type)

        return serve

    def _json(self, read):
        return self._answer(read, "application/json")

    @staticmethod
    def _answer(read, content_type):
        @wrappers.Request.application
        def serve(request):
            ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
            try:
                body = read(ctx, eid, request.args)
            except (BadRequest, errors.NotFoundError, errors.InvalidArgumentError) as error:
                return http_util.Respond(request, {"error": str(error)}, "application/json", code=400)
            return http_util.Respond(request, body, content_type)

        return serve


class KerasfgLoader(base_plugin.TBLoader):
    """Loads `KerasfgPlugin`, and keeps up to `DEFAULT_SAMPLES` steps of each kerasfg recording unless
    ``--samples_per_plugin kerasfg=N`` is given (``N=0``: all)."""

    def fix_flags(self, flags):
        hints = dict(getattr(flags, "samples_per_plugin", None) or {})
        hints.setdefault(metadata.PLUGIN_NAME, DEFAULT_SAMPLES)
        flags.samples_per_plugin = hints

    def load(self, context):
        return KerasfgPlugin(context)
