import subprocess
import sys


def test_import_is_cheap():
    """`import ganforge` loads no torch, builds no model and scans no dataset."""
    code = "import sys, ganforge; print(sorted(m for m in ('torch', 'torchvision', 'mlxtend') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_api_resolves_lazily():
    import ganforge

    assert callable(ganforge.train) and callable(ganforge.load_generator) and ganforge.Sampler
    assert ganforge.__version__ == "0.1.0"
