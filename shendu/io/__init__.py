"""``shendu.io``: safetensors-based ``save``/``load`` and atomic training checkpoints (no pickle)."""
from shendu.io.atomic import atomic_write_bytes
from shendu.io.checkpoint import get_rng_states, load_checkpoint, save_checkpoint, set_rng_states
from shendu.io.serialization import dumps, load, loads, save

__all__ = [
    "atomic_write_bytes", "dumps", "get_rng_states", "load", "load_checkpoint", "loads", "save",
    "save_checkpoint", "set_rng_states",
]
