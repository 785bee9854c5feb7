"""A tiny llama-architecture GGUF model with random weights, written with the stdlib alone.

No model weights can be downloaded on the machines this project runs on, so the
llama.cpp test writes its own model: 2 layers, 64-wide, 4 heads, a vocabulary of the 256
byte-fallback tokens, the printable ASCII characters and ChatML's control tokens, and a
ChatML chat template (for ``llama-server --jinja``). Its answers are random printable
ASCII; the server's grammars (``response_format``) shape them. About 0.5 MB.

The format is GGUF version 3 (ggml's ``docs/gguf.md``): a header, the metadata, the
tensor infos, then the tensors' data, each aligned to 32 bytes.
"""

from __future__ import annotations

import random
import struct
from array import array
from math import prod
from pathlib import Path

ALIGNMENT = 32
N_EMBD, N_LAYER, N_HEAD, N_FF = 64, 2, 4, 128
CONTEXT_LENGTH = 32768  # the prompts are tokenized a byte a token: they are long

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# GGUF metadata value types, and ggml's tensor type F32.
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
# llama.cpp's token types.
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6

Value = str | int | float | bool | list[str] | list[int] | list[float]


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """The tokens, their scores and their types: control, bytes, then printable characters."""
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [BYTE] * 256
    tokens += ["\u2581", *(chr(c) for c in range(0x21, 0x7F))]  # "▁" is SentencePiece's space
    types += [NORMAL] * (len(tokens) - len(types))
    scores = [0.0 if t != NORMAL else -float(i) for i, t in enumerate(types)]
    return tokens, scores, types


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: Value) -> bytes:
    """A metadata value with its type tag (lists of one type only)."""
    if isinstance(value, bool):
        return struct.pack("<I?", BOOL, value)
    if isinstance(value, int):
        return struct.pack("<II", UINT32, value)
    if isinstance(value, float):
        return struct.pack("<If", FLOAT32, value)
    if isinstance(value, str):
        return struct.pack("<I", STRING) + _string(value)
    head = struct.pack("<I", ARRAY)
    if all(isinstance(v, str) for v in value):
        return head + struct.pack("<IQ", STRING, len(value)) + b"".join(map(_string, value))  # type: ignore[arg-type]
    if all(isinstance(v, int) for v in value):
        return head + struct.pack(f"<IQ{len(value)}i", INT32, len(value), *value)
    return head + struct.pack(f"<IQ{len(value)}f", FLOAT32, len(value), *value)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % ALIGNMENT)


def tensor_shapes(n_vocab: int) -> dict[str, tuple[int, ...]]:
    """Each tensor's name and shape, in ggml's order (the fastest-varying dimension first)."""
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (N_EMBD, n_vocab),
        "output_norm.weight": (N_EMBD,),
        "output.weight": (N_EMBD, n_vocab),
    }
    for i in range(N_LAYER):
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            shapes[f"blk.{i}.{name}.weight"] = (N_EMBD, N_EMBD)
        shapes[f"blk.{i}.attn_norm.weight"] = (N_EMBD,)
        shapes[f"blk.{i}.ffn_norm.weight"] = (N_EMBD,)
        shapes[f"blk.{i}.ffn_gate.weight"] = (N_EMBD, N_FF)
        shapes[f"blk.{i}.ffn_up.weight"] = (N_EMBD, N_FF)
        shapes[f"blk.{i}.ffn_down.weight"] = (N_FF, N_EMBD)
    return shapes


def write_tiny_gguf(path: Path, *, seed: int = 0) -> Path:
    """Write the model to ``path`` (about 0.5 MB) and return ``path``.

    Args:
        path: the ``.gguf`` file to write (replaced if it exists).
        seed: the random weights' seed: the same seed writes the same bytes.
    """
    tokens, scores, types = vocabulary()
    metadata: dict[str, Value] = {
        "general.architecture": "llama",
        "general.name": "actorchestra tiny random llama",
        "general.alignment": ALIGNMENT,
        "llama.context_length": CONTEXT_LENGTH,
        "llama.embedding_length": N_EMBD,
        "llama.block_count": N_LAYER,
        "llama.feed_forward_length": N_FF,
        "llama.attention.head_count": N_HEAD,
        "llama.attention.head_count_kv": N_HEAD,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.dimension_count": N_EMBD // N_HEAD,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": tokens.index("<|im_end|>"),
        "tokenizer.ggml.add_bos_token": False,
        # No space before text after a control token: the server's grammars begin with
        # the generation prompt "<|im_start|>assistant\n", which must tokenize as written.
        "tokenizer.ggml.add_space_prefix": False,
        "tokenizer.chat_template": CHATML,
    }
    rng = random.Random(seed)
    shapes = tensor_shapes(len(tokens))
    speakable = {i for i, t in enumerate(types) if t == NORMAL}
    speakable |= {tokens.index("<0x0A>"), tokens.index("<|im_end|>")}
    infos, blobs, offset = [], [], 0
    for name, shape in shapes.items():
        rows = [[rng.gauss(0.0, 0.02) for _ in range(shape[0])] for _ in range(prod(shape[1:]))]
        if name.endswith("norm.weight"):
            rows = [[1.0] * shape[0]]
        elif name in ("token_embd.weight", "output.weight"):
            # Every hidden state leans along dimension 0 (each embedding has it); the
            # output rows of the tokens it may not say point against it. So it answers
            # in printable ASCII, spaces and newlines: JSON the server's parser takes.
            spread = 1.0 if name == "token_embd.weight" else 0.3  # logits: std about 1.5
            for token, row in enumerate(rows):
                row[:] = [rng.gauss(0.0, spread) for _ in row]
                if name == "token_embd.weight":
                    row[0] = 10.0
                else:
                    row[0] = 0.0 if token in speakable else -10.0
        data = array("f", [x for row in rows for x in row]).tobytes()
        dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
        infos.append(_string(name) + dims + struct.pack("<IQ", GGML_F32, offset))
        blobs.append(data + _pad(len(data)))
        offset += len(blobs[-1])
    head = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(metadata))
    head += b"".join(_string(key) + _value(value) for key, value in metadata.items())
    head += b"".join(infos)
    path.write_bytes(head + _pad(len(head)) + b"".join(blobs))
    return path


if __name__ == "__main__":
    import sys

    print(write_tiny_gguf(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf")))
