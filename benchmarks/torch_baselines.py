"""PyTorch + timm baselines of the backbones, timed in a worker process that the benchmarks drive.

The worker never shares a process with TensorFlow: importing torch's Triton next to TensorFlow crashes
(segmentation fault in ``triton/knobs.py`` with torch 2.14 + TF 2.21), and two oneDNN / OpenMP
runtimes in one process would fight over the cores. The benchmark sends one JSON command per line on
the worker's stdin and reads one JSON answer per line from its stdout, so the PyTorch steps are timed
in turns with the Keras ones (A, B, A, B, ...), as the Keras candidates are among themselves.

Models, as PyTorch users would train them (timm, channels_last memory format, SGD with momentum):

- ``resnet50``: ``timm.create_model("resnet50")``;
- ``cbam_resnet50``: the same with timm's CBAM in every bottleneck (``block_args={"attn_layer": "cbam"}``);
- ``quickstart``: kerasfg's quick-start network (``face_resnet``: residual stages with CBAM, the
  expression one-hot merged into a dropout MLP head) written with torch.nn and timm's CBAM.

Precisions: ``float32`` and ``bfloat16`` (``torch.autocast("cpu", torch.bfloat16)``, float32 weights).
"""

import importlib.util
import json
import sys
import time


def available():
    """``None`` when torch and timm are installed, else a one-line reason (without importing them here:
    torch must not share the benchmark's TensorFlow process)."""
    missing = [name for name in ("torch", "timm") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install torch timm)"
    return None


def build(model, size, batch, classes, expressions=7, hidden_units=128, widths=(32, 64, 128),
          stem_strides=2, dropout=0.3):
    """``(module, inputs, labels)`` for ``model`` with random inputs of the benchmark's shapes."""
    import timm
    import torch

    torch.manual_seed(0)
    images = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, classes, (batch,))
    if model == "resnet50":
        module, inputs = timm.create_model("resnet50", num_classes=classes), (images,)
    elif model == "cbam_resnet50":
        module = timm.create_model("resnet50", num_classes=classes, block_args={"attn_layer": "cbam"})
        inputs = (images,)
    elif model == "quickstart":
        module = _face_resnet(classes, expressions, widths, stem_strides, hidden_units, dropout)
        inputs = (images * 127.5 + 127.5, torch.randint(0, expressions, (batch,)))
    else:
        raise ValueError(f"unknown model {model!r}; expected resnet50, cbam_resnet50 or quickstart.")
    return module.to(memory_format=torch.channels_last).train(), inputs, labels


def _face_resnet(classes, expressions, widths, stem_strides, hidden_units, dropout):
    """kerasfg's ``face_resnet`` (quick-start options) in torch.nn, with timm's CBAM."""
    import torch
    from timm.layers import get_attn
    from torch import nn

    def conv_bn(cin, cout, k, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                             nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.shortcut = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None
            self.branch = nn.Sequential(conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True),
                                        conv_bn(cout, cout, 3, 1), get_attn("cbam")(cout))

        def forward(self, x):
            shortcut = x if self.shortcut is None else self.shortcut(x)
            return torch.relu(shortcut + self.branch(x))

    class FaceResNet(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [conv_bn(3, widths[0], 3, stem_strides), nn.ReLU(inplace=True)]
            cin = widths[0]
            for stage, width in enumerate(widths):
                layers.append(Block(cin, width, 2 if stage else 1))
                cin = width
            self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.fc1 = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, hidden_units), nn.ReLU())
            self.fc2 = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_units + expressions, hidden_units),
                                     nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_units, classes))
            self.expressions = expressions

        def forward(self, pixels, expression):
            x = self.fc1(self.trunk(pixels / 127.5 - 1.0))
            onehot = nn.functional.one_hot(expression, self.expressions).to(x.dtype)
            return self.fc2(torch.cat([x, onehot], dim=1))

    return FaceResNet()


class Trainer:
    """One model, its optimizer and batch, and a timed training step."""

    def __init__(self, model, size, batch, classes, bfloat16):
        import torch

        self.torch = torch
        self.module, self.inputs, self.labels = build(model, size, batch, classes)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.01, momentum=0.9)
        self.bfloat16 = bfloat16

    def step(self):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            loss = torch.nn.functional.cross_entropy(self.module(*self.inputs), self.labels)
        loss.backward()
        self.optimizer.step()

    def timed_steps(self, count):
        times = []
        for _ in range(count):
            start = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - start)
        return times


def serve():
    """The worker loop: ``build`` / ``steps`` / ``quit`` commands, one JSON object per line."""
    import torch

    trainers = {}
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}),
          flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "build":
            trainers[command["key"]] = Trainer(command["model"], command["size"], command["batch"],
                                               command["classes"], command["bfloat16"])
            answer = {"built": command["key"]}
        elif command["op"] == "steps":
            answer = {"times": trainers[command["key"]].timed_steps(command["count"])}
        else:
            break
        print(json.dumps(answer), flush=True)


class Worker:
    """The benchmark's side: starts ``python -m benchmarks.torch_baselines`` and talks to it."""

    def __init__(self):
        import subprocess

        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.torch_baselines"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch worker exited (status {self.process.wait()}).")
        return json.loads(line)

    def _ask(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def build(self, key, model, size, batch, classes, bfloat16):
        self._ask(op="build", key=key, model=model, size=size, batch=batch, classes=classes,
                  bfloat16=bfloat16)

    def steps(self, key, count):
        """Seconds of each of ``count`` training steps of the model built as ``key``."""
        return self._ask(op="steps", key=key, count=count)["times"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


if __name__ == "__main__":
    serve()
