import subprocess
import sys


def test_import_uvkit_does_not_import_torch():
    code = "import sys, uvkit, uvkit.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
