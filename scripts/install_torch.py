"""Install PyTorch without pulling a multi-GB CUDA build where a CPU wheel will do.

- An importable torch is kept as it is (Colab, conda, your own CUDA build).
- Linux without an NVIDIA GPU: the CPU build ``torch==X+cpu``, first from wherever pip
  already finds it, then from the PyTorch CPU index (``TORCH_CPU_INDEX`` overrides it).
- Otherwise (a GPU, macOS, Windows): the default wheel of ``torch==X``.

Set ``TORCH_VERSION`` to choose another release.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

VERSION = os.environ.get("TORCH_VERSION", "2.13.0")
CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")


def pip_install(*args: str) -> int:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def main() -> int:
    if importlib.util.find_spec("torch") is not None:
        print("torch is already installed; keeping it")
        return 0
    if sys.platform.startswith("linux") and shutil.which("nvidia-smi") is None:
        spec = f"torch=={VERSION}+cpu"
        if pip_install(spec) == 0:
            return 0
        print(f"{spec} is not on the default index; trying the PyTorch CPU index", flush=True)
        return pip_install(spec, "--extra-index-url", CPU_INDEX)
    return pip_install(f"torch=={VERSION}")


if __name__ == "__main__":
    sys.exit(main())
