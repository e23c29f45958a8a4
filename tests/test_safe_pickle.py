import os
import pickle
import sys

import numpy as np
import pytest
import scipy.sparse

from uvkit import safe_pickle
from uvkit.errors import TemplateError, UnsafePickleError

from smpl_format import fake_chumpy


class Exploit:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class EvalExploit:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_plain_numpy_and_sparse_round_trip():
    data = {
        "a": np.arange(12.0).reshape(3, 4),
        "b": scipy.sparse.csc_matrix(np.eye(4)),
        "c": np.float32(2.5),
        "d": [np.int64(3), "text"],
    }
    for protocol in (2, 4, 5):
        back = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
        np.testing.assert_array_equal(back["a"], data["a"])
        assert scipy.sparse.issparse(back["b"])
        np.testing.assert_array_equal(back["b"].toarray(), np.eye(4))
        assert back["c"] == 2.5 and back["d"][0] == 3


def test_chumpy_arrays_are_read_without_chumpy():
    with fake_chumpy() as Ch:
        blob = pickle.dumps({"shapedirs": Ch(np.ones((2, 3, 4)))}, protocol=2)
    assert "chumpy" not in sys.modules
    back = safe_pickle.loads(blob)
    assert isinstance(back["shapedirs"], np.ndarray) and back["shapedirs"].shape == (2, 3, 4)


@pytest.mark.parametrize("payload", [Exploit, EvalExploit])
def test_hostile_pickle_is_refused_without_running_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    obj = payload(f"touch {marker}") if payload is Exploit else payload()
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": obj}, protocol=2))
    with pytest.raises(UnsafePickleError) as info:
        safe_pickle.load(path)
    message = str(info.value)
    assert "evil.pkl" in message
    assert ("system" in message) or ("eval" in message)
    assert not marker.exists()


def test_other_globals_are_refused():
    import subprocess

    blob = pickle.dumps({"x": subprocess.Popen, "y": {1, 2}}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"(subprocess|commands)\.Popen"):
        safe_pickle.loads(blob)


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(100.0)}, protocol=2)[:50])
    with pytest.raises(TemplateError, match="cut.pkl: not a readable pickle"):
        safe_pickle.load(path)
