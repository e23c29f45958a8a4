"""Build SMPL-format pickles in the tests, the way the original Python 2 files are laid out:
chumpy arrays for some keys (through stand-in classes named like chumpy's), a scipy sparse
J_regressor. Never a real SMPL file."""
import contextlib
import pickle
import sys
import types

import numpy as np
import scipy.sparse

from uvkit.parts import NUM_JOINTS, PARENTS


@contextlib.contextmanager
def fake_chumpy():
    """Temporarily register modules ``chumpy`` and ``chumpy.ch`` with a ``Ch`` class."""
    package = types.ModuleType("chumpy")
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = set()

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    package.ch = module
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    try:
        yield Ch
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def smpl_dict(vertices, faces, n_betas=4, rng=None):
    """A rig in SMPL layout for any mesh: weights by nearest of 24 points, random shapedirs."""
    rng = np.random.default_rng(0) if rng is None else rng
    n = len(vertices)
    anchors = vertices[np.linspace(0, n - 1, NUM_JOINTS).astype(int)]
    distance = np.linalg.norm(vertices[:, None, :] - anchors[None], axis=2)
    weights = np.exp(-distance / distance.mean())
    weights /= weights.sum(axis=1, keepdims=True)
    nearest = np.argsort(distance, axis=0)[:4]
    regressor = np.zeros((NUM_JOINTS, n))
    for j in range(NUM_JOINTS):
        regressor[j, nearest[:, j]] = 0.25
    kintree = np.array([[2**32 - 1] + list(PARENTS[1:]), list(range(NUM_JOINTS))], dtype=np.int64)
    return {
        "v_template": vertices,
        "f": faces.astype(np.uint32),
        "weights": weights,
        "kintree_table": kintree,
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "shapedirs": rng.normal(scale=0.01, size=(n, 3, n_betas)),
        "posedirs": np.zeros((n, 3, 207)),
        "bs_style": "lbs",
    }


def write_smpl_pickle(path, vertices, faces, chumpy_keys=("v_template", "shapedirs", "weights")):
    """Write an SMPL-format pickle (protocol 2) with chumpy stand-ins for ``chumpy_keys``."""
    data = smpl_dict(vertices, faces)
    with fake_chumpy() as Ch:
        for key in chumpy_keys:
            data[key] = Ch(data[key])
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=2)
    return smpl_dict(vertices, faces)
