"""kplan's vocabulary: effect values, the plan, the tree, the pure model, the encoding.

Nothing here does IO; ``planner`` builds these values and ``executor`` applies them.
"""

from ._container import (
    VERIFY_CHECKS,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    PullImage,
    RegisterKernel,
    StartContainer,
    VerifyContainer,
)
from ._encoding import (
    decode,
    decode_effect,
    describe,
    dumps,
    encode,
    encode_effect,
    mode_text,
    seal,
)
from ._fs import (
    HOST_KEY_NAME,
    Chmod,
    Chown,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    WriteFile,
    public_key_path,
)
from ._json import EMPTY, Json, JsonObject, freeze, freeze_object, thaw, thaw_object
from ._model import project
from ._paths import check_absolute, check_relative, kernel_entries, rel
from ._plan import FORMAT_VERSION, Blob, Effect, Header, Plan, Step, blob_of
from ._reader import Invalid, Reader, parse_mode
from ._runner_assets import JUPYTER_ASSETS, RUNNER_ASSETS, RUNNER_DOTFILES
from ._tree import (
    Node,
    NodeType,
    Tree,
    decode_tree,
    encode_tree,
    is_volatile_path,
    tree_document,
    tree_from_document,
    without_volatile_content,
)
from .errors import DecodeError, EffectError

__all__ = [
    "EMPTY",
    "FORMAT_VERSION",
    "HOST_KEY_NAME",
    "JUPYTER_ASSETS",
    "RUNNER_ASSETS",
    "RUNNER_DOTFILES",
    "VERIFY_CHECKS",
    "Blob",
    "Chmod",
    "Chown",
    "ContainerConfig",
    "ContainerMount",
    "CreateContainer",
    "DecodeError",
    "Effect",
    "EffectError",
    "GenerateHostKey",
    "Header",
    "Invalid",
    "Json",
    "JsonObject",
    "MakeDir",
    "MountScratch",
    "Node",
    "NodeType",
    "Plan",
    "PullImage",
    "Reader",
    "RegisterKernel",
    "StartContainer",
    "Step",
    "Tree",
    "VerifyContainer",
    "WriteFile",
    "blob_of",
    "check_absolute",
    "check_relative",
    "decode",
    "decode_effect",
    "decode_tree",
    "describe",
    "dumps",
    "encode",
    "encode_effect",
    "encode_tree",
    "freeze",
    "freeze_object",
    "is_volatile_path",
    "kernel_entries",
    "mode_text",
    "parse_mode",
    "project",
    "public_key_path",
    "rel",
    "seal",
    "thaw",
    "thaw_object",
    "tree_document",
    "tree_from_document",
    "without_volatile_content",
]
