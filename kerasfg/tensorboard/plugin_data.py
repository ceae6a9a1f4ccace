"""What kerasfg's TensorBoard plugin serves: the data provider's kerasfg recordings as JSON-ready values.

Every request names a run, a tag and, where it matters, a step and a picture index; each is checked
against what the data provider holds, and a blob is only ever read through the blob key that the provider
itself gives for that run, tag, step and index. Anything else raises `BadRequest`, which the plugin
answers with HTTP 400. This module imports no TensorFlow.
"""

import base64
import collections
import json
import struct
import threading
from concurrent import futures

from tensorboard import errors
from tensorboard.data import provider

from kerasfg.tensorboard import metadata


SERIES_KEPT = 256
"""How many series' blob keys the plugin keeps, so that a picture costs the data provider one read."""


class BadRequest(ValueError):
    """A request parameter that is missing, malformed, or names nothing that the data provider holds."""


def png_size(png):
    """``(width, height)`` of PNG bytes, read from the IHDR chunk; ``(0, 0)`` if they are no PNG."""
    if len(png) < 24 or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        return 0, 0
    return struct.unpack(">II", png[16:24])


def integer(args, name):
    """The non-negative integer request parameter ``name`` of ``args`` (a mapping of strings)."""
    value = text(args, name)
    if not value.isascii() or not value.isdigit():
        raise BadRequest(f"Parameter {name!r} must be a non-negative integer, got {value[:40]!r}.")
    return int(value)


def text(args, name):
    """The required request parameter ``name`` of ``args``."""
    value = args.get(name)
    if value is None or value == "":
        raise BadRequest(f"Missing parameter {name!r}.")
    return value


class Recordings:
    """kerasfg's recordings in a TensorBoard data provider.

    Args:
        data_provider: a `tensorboard.data.provider.DataProvider`.
        downsample: how many steps of a time series to read at most; it should be at least the
            number TensorBoard keeps (``--samples_per_plugin kerasfg=N``), so that no step is lost.
    """

    def __init__(self, data_provider, downsample):
        self._provider = data_provider
        self._downsample = downsample
        self._known_steps = {}  # (experiment, run, tag) -> (listing signature, steps)
        self._series_keys = collections.OrderedDict()  # (experiment, run, tag) -> {step: [blob key, ...]}
        self._lock = threading.Lock()
        self._pool = futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="kerasfg-plugin")

    def runs(self, ctx, experiment_id):
        """``{run: [recording, ...]}`` of every run with kerasfg recordings, sorted by run and tag.

        A recording is ``{"tag", "kind", "content", "description", "steps", "max_length"}``; ``tag``
        is the plugin's tag (``kerasfg/...``) and ``content`` the parsed metadata content.
        Time series whose content is not kerasfg's are left out.
        """
        found = {}
        listings = [self._pool.submit(list_series, ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME)
                    for list_series in (self._provider.list_blob_sequences, self._provider.list_tensors)]
        for listing, read_series in zip(listings, (self._provider.read_blob_sequences, self._provider.read_tensors)):
            listing = listing.result()
            steps = self._all_steps(ctx, experiment_id, listing, read_series)
            for run, tags in listing.items():
                for tag, series in tags.items():
                    self._add(found, run, tag, series, steps[run, tag])
        return {run: sorted(recordings, key=lambda r: r["tag"]) for run, recordings in sorted(found.items())}

    def _all_steps(self, ctx, experiment_id, listing, read_series):
        """``{(run, tag): sorted steps}`` of every series of ``listing``.

        Reading a series' data is what costs, so the steps are kept, and a series is read again only
        when its listing (last step, last wall time, length) has changed since. The blob keys of the
        pictures series read are kept too, for `pictures` and `picture`.
        """
        steps, stale = {}, {}
        for run, tags in listing.items():
            for tag, series in tags.items():
                signature = (series.max_step, series.max_wall_time, getattr(series, "max_length", None))
                known = self._known_steps.get((experiment_id, run, tag))
                if known is not None and known[0] == signature:
                    steps[run, tag] = known[1]
                else:
                    stale[run, tag] = signature
        if stale:
            data = read_series(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME,
                               downsample=self._downsample, run_tag_filter=provider.RunTagFilter(
                                   runs={run for run, _ in stale}, tags={tag for _, tag in stale}))
            for (run, tag), signature in stale.items():
                datums = data.get(run, {}).get(tag, [])
                steps[run, tag] = sorted({datum.step for datum in datums})
                self._known_steps[experiment_id, run, tag] = (signature, steps[run, tag])
                if read_series == self._provider.read_blob_sequences:
                    self._keep_blob_keys(experiment_id, run, tag, datums)
        return steps

    @staticmethod
    def _add(found, run, tag, series, steps):
        parsed = metadata.parse(series.plugin_content)
        if parsed:
            found.setdefault(run, []).append({
                "tag": tag, "kind": parsed["kind"], "content": parsed, "description": series.description,
                "steps": steps, "max_length": getattr(series, "max_length", None)})

    def _series(self, ctx, experiment_id, args, read):
        run, tag = text(args, "run"), text(args, "tag")
        result = read(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME,
                      downsample=self._downsample, run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))
        series = result.get(run, {}).get(tag)
        if series is None:
            raise BadRequest("No kerasfg recording of this kind with this run and tag.")
        return series

    def _datum(self, ctx, experiment_id, args, read):
        series = self._series(ctx, experiment_id, args, read)
        step = integer(args, "step")
        for datum in series:  # the first of several at one step, as TensorBoard's own readers do
            if datum.step == step:
                return datum
        raise BadRequest(f"No recording at step {step} of this run and tag.")

    def steps(self, ctx, experiment_id, args):
        """The sorted steps of the recording (pictures, table or annotations) named by ``args["run"]`` and
        ``args["tag"]``."""
        try:
            series = self._series(ctx, experiment_id, args, self._provider.read_blob_sequences)
        except BadRequest:
            series = self._series(ctx, experiment_id, args, self._provider.read_tensors)
        return sorted({datum.step for datum in series})

    def pictures(self, ctx, experiment_id, args):
        """The pictures of one run, tag and step: ``[{"index", "width", "height", "png"}]``, the PNG
        bytes base64-encoded, so that a view gets a whole step in one request."""
        out = []
        for index, png in enumerate(self._read_pictures(ctx, experiment_id, args, lambda keys: keys)):
            width, height = png_size(png)
            out.append({"index": index, "width": width, "height": height,
                        "png": base64.b64encode(png).decode("ascii")})
        return out

    def picture(self, ctx, experiment_id, args):
        """The PNG bytes of picture ``args["index"]`` of one run, tag and step."""
        index = integer(args, "index")

        def pick(keys):
            if index >= len(keys):
                raise BadRequest(f"Picture index {index} is out of range: this step has {len(keys)}.")
            return [keys[index]]

        return self._read_pictures(ctx, experiment_id, args, pick)[0]

    def _read_pictures(self, ctx, experiment_id, args, pick):
        """The PNG bytes of the blobs that ``pick(blob keys of the step)`` chooses, read in parallel.

        A kept blob key that the provider no longer knows (its data was reloaded) makes the plugin
        look the step up afresh, once.
        """
        try:
            return self._read_blobs(ctx, pick(self._blob_keys(ctx, experiment_id, args, fresh=False)))
        except errors.NotFoundError:
            return self._read_blobs(ctx, pick(self._blob_keys(ctx, experiment_id, args, fresh=True)))

    def _read_blobs(self, ctx, keys):
        return list(self._pool.map(lambda key: self._provider.read_blob(ctx, blob_key=key), keys))

    def _keep_blob_keys(self, experiment_id, run, tag, datums):
        """Keep (and return) ``{step: [blob key, ...]}`` of a pictures series read from the provider."""
        by_step = {}
        for datum in datums:
            by_step.setdefault(datum.step, [blob.blob_key for blob in datum.values])  # the first at a step
        with self._lock:
            self._series_keys[experiment_id, run, tag] = by_step
            while len(self._series_keys) > SERIES_KEPT:
                self._series_keys.popitem(last=False)
        return by_step

    def _blob_keys(self, ctx, experiment_id, args, fresh):
        """The provider's blob keys of one step of a pictures recording, one per picture.

        The keys of the last `SERIES_KEPT` series read are kept; a step they lack (or ``fresh``) makes
        the plugin read the series again before it answers that the step does not exist.
        """
        run, tag, step = text(args, "run"), text(args, "tag"), integer(args, "step")
        cache_key = (experiment_id, run, tag)
        with self._lock:
            keys = None if fresh else self._series_keys.get(cache_key, {}).get(step)
            if keys is not None:
                self._series_keys.move_to_end(cache_key)
                return keys
        by_step = self._keep_blob_keys(
            experiment_id, run, tag, self._series(ctx, experiment_id, args, self._provider.read_blob_sequences))
        if step not in by_step:
            raise BadRequest(f"No recording at step {step} of this run and tag.")
        return by_step[step]

    def table(self, ctx, experiment_id, args):
        """A ``table`` recording at one run, tag and step: ``{"columns": [...], "rows": [[...], ...]}``."""
        content, rows = self._json_step(ctx, experiment_id, args, "table", list)
        return {"columns": content.get("columns", []), "rows": rows}

    def annotations(self, ctx, experiment_id, args):
        """The annotations of one step of a recording (a dict such as ``{"feature_maps": [...]}``), named by
        ``args["tag"]``: the tag that the recording's content gives as ``annotations``, plugin prefix included."""
        return self._json_step(ctx, experiment_id, args, "annotations", dict)[1]

    def _json_step(self, ctx, experiment_id, args, kind, value_type):
        """``(content, value)`` of one step of a recording of ``kind`` stored as a JSON string tensor, whose
        value must be a ``value_type``."""
        run, tag = text(args, "run"), text(args, "tag")
        listing = self._pool.submit(self._provider.list_tensors, ctx, experiment_id=experiment_id,
                                    plugin_name=metadata.PLUGIN_NAME,
                                    run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))
        datum = self._datum(ctx, experiment_id, args, self._provider.read_tensors)
        content = metadata.parse(listing.result()[run][tag].plugin_content)
        if content.get("kind") != kind:
            raise BadRequest(f"This run and tag hold no kerasfg {kind}.")
        raw = datum.numpy.item() if datum.numpy.ndim == 0 else b""
        try:
            value = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (UnicodeDecodeError, ValueError, AttributeError):
            value = None
        if not isinstance(value, value_type):
            raise BadRequest(f"This {kind} recording holds no JSON {value_type.__name__} at this step "
                             "(kerasfg.tensorboard.summary writes one).")
        return content, value
