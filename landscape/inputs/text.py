"""Token data for causal language models: text or token ids, cut into sequences (`TokenData`).

Sources: a `.txt` file (one text), a `.jsonl` file (one document a line, its text in `text_field`),
token ids made beforehand (`.npy`, or `.pt` of an integer tensor or a dict with `input_ids`), or a
`datasets.save_to_disk` folder. Documents are tokenized one by one, without special tokens, joined
with the tokenizer's EOS between them, and the stream is cut into consecutive sequences of
`seq_len` tokens; a last, shorter one of at least 2 tokens is right-padded and masked.
A file holds one part of the data: `split` names it (the values are `test_loss` with
`Split.test`, the held-out text of a model), where a saved DatasetDict's parts are chosen by it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.choices import Split
from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import check_archive, regular_file
from landscape.inputs.data import TensorData, _digest

TEXT_SUFFIXES = (".txt", ".jsonl", ".npy")
TENSOR_SUFFIXES = (".pt", ".pth")
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # what save_to_disk writes
PRE_TOKENIZED = "pre-tokenized"
BATCH_DOCS = 1024  # documents handed to the tokenizer at once
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "tokenizer.model", "spiece.model")


@dataclass(frozen=True)
class TextSpec:
    """How text becomes token sequences."""

    seq_len: int = 128  # tokens per sequence
    text_field: str = "text"  # the field of a .jsonl record / dataset column holding the text
    tokenizer: str | None = None  # a tokenizer folder; None: the model folder's

    def __post_init__(self) -> None:
        if isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 2:
            raise LandscapeError(f"{arg('seq_len')} must be an integer ≥ 2 (a token and the next, which it predicts), "
                                 f"got {self.seq_len!r}", field="seq_len")
        if not isinstance(self.text_field, str) or not self.text_field:
            raise LandscapeError(f"{arg('text_field')} must name a field, got {self.text_field!r}", field="text_field")


@dataclass
class TokenData(TensorData):
    """x: input_ids (N, L) int64; y: attention_mask (N, L) int64 (1 = a real token, 0 = padding).
    Real tokens come first in each sequence; the model predicts each from those before it."""

    tokenizer: str = ""  # what tokenized it: the tokenizer's name_or_path, or "pre-tokenized"
    seq_len: int = 0

    @property
    def tokens(self) -> int:
        """The number of real (not padding) tokens."""
        return int(self.y.sum())

    @property
    def predicted(self) -> int:
        """The number of tokens predicted: all but the first real token of each sequence."""
        return int((self.y.sum(dim=1) - 1).clamp(min=0).sum())

    def sha256(self) -> str:
        """A digest of ids, mask, sequence length and tokenizer: a resumed run must see the same data."""
        h = hashlib.sha256()
        h.update(json.dumps([self.seq_len, self.tokenizer]).encode())
        _digest((self.x, self.y), h)
        return h.hexdigest()

    def subset(self, lo: int, hi: int) -> "TokenData":
        return replace(self, x=self.x[lo:hi], y=self.y[lo:hi])

    def take(self, idx: torch.Tensor) -> "TokenData":
        return replace(self, x=self.x[idx], y=self.y[idx])


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0][:120]


def _is_dataset_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in DATASET_MARKERS)


def _load_pt(path: Path, where: str, mmap: bool = False) -> Any:
    regular_file(path, arg("data"))  # a device reads without end, a FIFO blocks
    zipped = bool(check_archive(path, arg("data")))  # torch.load does not check the CRCs of a zip's members
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipped)
    except Exception as e:
        raise LandscapeError(f"{where} is not a readable tensor file ({type(e).__name__}); save ids with torch.save") from None


def _holds_token_ids(obj: Any) -> bool:
    """An integer tensor (N, L) or (T,), or a dict with input_ids: not load_data's (x, y) data."""
    if isinstance(obj, torch.Tensor):
        return obj.dim() in (1, 2) and not obj.is_floating_point()  # bool, complex: refused by _ids
    return isinstance(obj, dict) and "input_ids" in obj


def is_text_source(source: str) -> bool:
    """Whether `source` is token data for `load_tokens`, not (x, y) data for `load_data`: a .txt,
    .jsonl or .npy file, a `datasets.save_to_disk` folder, or a .pt/.pth file of token ids."""
    path = Path(source)
    if path.suffix in TEXT_SUFFIXES or _is_dataset_folder(path):
        return True
    if path.suffix not in TENSOR_SUFFIXES or not os.path.lexists(path):
        return False
    try:
        return _holds_token_ids(_load_pt(path, "", mmap=True))
    except LandscapeError:  # damaged or unreadable: load_data says what is wrong with it
        return False


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved in the folder `path` (by `save_pretrained`), read without downloading."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise LandscapeError("reading text needs transformers: pip install 'landscape-viz[lm]'") from None
    path = Path(path)
    if not (path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)):
        # transformers would make an empty tokenizer from a model folder's config.json alone
        why = f"holds no tokenizer ({', '.join(TOKENIZER_FILES[:3])}, …)" if path.is_dir() else "is not a folder"
        raise LandscapeError(f"tokenizer {str(path)!r} {why}; pass {arg('tokenizer')} FOLDER, one written by "
                             "save_pretrained", field="tokenizer")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as e:  # reading the user's files: missing, damaged, or of an unknown kind
        raise LandscapeError(f"{str(path)!r} holds no readable tokenizer ({type(e).__name__}: {_first_line(e)}); "
                             f"pass {arg('tokenizer')} FOLDER", field="tokenizer") from None


def _ids(a: Any, where: str, what: str) -> torch.Tensor:
    """`a` as int64 token ids, 1-D or 2-D, none negative."""
    try:
        a = a if isinstance(a, torch.Tensor) else np.asarray(a)
    except (TypeError, ValueError) as e:  # ragged lists
        raise LandscapeError(f"{where}: {what} must be an array of token ids ({_first_line(e)})") from None
    if (a.dtype.kind not in "iu") if isinstance(a, np.ndarray) else (
            a.is_floating_point() or a.is_complex() or a.dtype == torch.bool):
        raise LandscapeError(f"{where}: {what} are {str(a.dtype).removeprefix('torch.')} values, not token ids; "
                             "store integer ids")
    if a.ndim not in (1, 2):
        raise LandscapeError(f"{where}: {what} have {a.ndim} dimensions (shape {tuple(a.shape)}); give (N, L) "
                             "sequences or one 1-D stream of token ids")
    t = torch.as_tensor(a).long()
    if t.numel() == 0:
        raise LandscapeError(f"{where}: {what} hold no tokens (shape {tuple(t.shape)})")
    if int(t.min()) < 0:
        raise LandscapeError(f"{where}: {what} hold a negative token id ({int(t.min())}); token ids start at 0")
    return t.contiguous()


def _cut(stream: torch.Tensor, seq_len: int, pad_id: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A token stream as (N, seq_len) ids and mask: consecutive sequences, the last one padded."""
    n = len(stream)
    if n < 2:
        raise LandscapeError(f"{where} holds {n} token{'s' * (n != 1)}; a sequence needs at least 2 (a token and the next)")
    full, rest = divmod(n, seq_len)
    used = n if rest >= 2 else full * seq_len  # a last token on its own predicts nothing
    rows = -(-used // seq_len)
    x, y = torch.full((rows, seq_len), pad_id, dtype=torch.int64), torch.zeros((rows, seq_len), dtype=torch.int64)
    x.view(-1)[:used] = stream[:used]
    y.view(-1)[:used] = 1
    return x, y


def _from_ids(ids: Any, mask: Any, seq_len: int, where: str, split: str = "train") -> TokenData:
    """Token ids made beforehand: (N, L) sequences used as they are, or a 1-D stream cut."""
    x = _ids(ids, where, "input_ids")
    if x.dim() == 1:
        if mask is not None:
            raise LandscapeError(f"{where}: an attention_mask needs input_ids of shape (N, L), not a 1-D stream")
        x, y = _cut(x, seq_len, 0, where)
        return TokenData(x, y, split, PRE_TOKENIZED, seq_len)
    if x.shape[1] < 2:
        raise LandscapeError(f"{where}: sequences of {x.shape[1]} token predict nothing; give at least 2 per sequence")
    y = torch.ones_like(x) if mask is None else _mask(mask, tuple(x.shape), where)
    return TokenData(x, y, split, PRE_TOKENIZED, x.shape[1])


def _mask(mask: Any, shape: tuple[int, ...], where: str) -> torch.Tensor:
    """An attention mask given with the ids: 0s and 1s of their shape, as int64."""
    try:
        y = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    except (TypeError, ValueError, RuntimeError) as e:
        raise LandscapeError(f"{where}: attention_mask must be an array ({_first_line(e)})") from None
    if tuple(y.shape) != shape or y.is_floating_point() or y.is_complex() or bool(((y != 0) & (y != 1)).any()):
        raise LandscapeError(f"{where}: attention_mask must be 0s and 1s of the shape of input_ids {shape}, got "
                             f"{str(y.dtype).removeprefix('torch.')} values of shape {tuple(y.shape)}")
    y = y.long().contiguous()
    if bool((y[:, 1:] > y[:, :-1]).any()):  # a 1 after a 0: left padding, or a gap
        row = int((y[:, 1:] > y[:, :-1]).any(dim=1).nonzero()[0])
        raise LandscapeError(f"{where}: the attention mask of sequence {row} has a real token after padding; pad "
                             "on the right (the positions of the tokens follow their place in the sequence)")
    return y


def _read_text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise LandscapeError(f"{where} is not UTF-8 text (at byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise LandscapeError(f"cannot read {where}: {e.strerror or e}") from None


def _listing(names: list[str]) -> str:
    return (", ".join(map(str, names[:10])) + (", …" if len(names) > 10 else "")) or "none"


def _jsonl_docs(path: Path, field: str, where: str) -> list[str]:
    docs = []
    for n, line in enumerate(_read_text(path, where).split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise LandscapeError(f"{where} line {n} is not valid JSON ({e.msg}); write one JSON object per line") from None
        if not isinstance(record, dict) or field not in record:
            fields = _listing(list(record)) if isinstance(record, dict) else f"a JSON {type(record).__name__}"
            raise LandscapeError(f"{where} line {n} has no field {field!r} (it has {fields}); name "
                                 f"the field that holds the text with {arg('text_field')}", field="text_field")
        if not isinstance(record[field], str):
            raise LandscapeError(f"{where} line {n}: field {field!r} is {json.dumps(record[field])[:40]}, not text")
        docs.append(record[field])
    if not docs:
        raise LandscapeError(f"{where} holds no records; write one JSON object per line")
    return docs


def _pad_id(tok: Any, vocab_size: int | None) -> int:
    """The id written under the mask: the tokenizer's pad, else its EOS, else 0 (one the model can embed)."""
    ok = [i for i in (tok.pad_token_id, tok.eos_token_id) if isinstance(i, int) and 0 <= i < (vocab_size or 1 << 62)]
    return ok[0] if ok else 0


def _from_docs(docs: list[str], spec: TextSpec, folder: str | Path | None, vocab_size: int | None, where: str,
               split: str = "train") -> TokenData:
    """Documents tokenized one by one, joined with EOS between them, cut into sequences."""
    folder = spec.tokenizer or folder
    if folder is None:
        raise LandscapeError(f"{where} is text and needs a tokenizer; pass {arg('tokenizer')} FOLDER", field="tokenizer")
    tok = load_tokenizer(folder)
    eos = tok.eos_token_id
    parts: list[np.ndarray] = []
    for start in range(0, len(docs), BATCH_DOCS):
        encoded = tok(docs[start:start + BATCH_DOCS], add_special_tokens=False, verbose=False,
                      return_attention_mask=False)["input_ids"]
        for ids in encoded:
            if not ids:  # an empty document: no tokens, and no separator
                continue
            if parts and eos is not None:
                parts.append(np.array([eos], dtype=np.int64))
            parts.append(np.asarray(ids, dtype=np.int64))
    stream = torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0, dtype=torch.int64)
    x, y = _cut(stream, spec.seq_len, _pad_id(tok, vocab_size), where)
    return TokenData(x, y, split, str(tok.name_or_path), spec.seq_len)


def _from_dataset_folder(path: Path, spec: TextSpec, split: Split | None, folder: str | Path | None,
                         vocab_size: int | None, where: str) -> TokenData:
    try:
        import datasets
    except ImportError:
        raise LandscapeError(f"{where} is a datasets folder; reading it needs datasets: pip install datasets") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # reading the user's files
        raise LandscapeError(f"{where} is not a readable datasets folder ({type(e).__name__}: {_first_line(e)})") from None
    if isinstance(ds, datasets.DatasetDict):
        name = (split or Split.train).value
        if name not in ds:
            fix = "pick another with " + arg("split") if len(ds) > 1 else "save the part you want as train or test"
            raise LandscapeError(f"{where} has no {name!r} split (it has {_listing(list(ds))}); {fix}", field="split")
        ds = ds[name]
    else:  # one part: --split names it
        name = (split or Split.train).value
    if "input_ids" in ds.column_names:
        masks = list(ds["attention_mask"]) if "attention_mask" in ds.column_names else None
        return _from_rows(list(ds["input_ids"]), masks, where, name)
    if spec.text_field not in ds.column_names:
        raise LandscapeError(f"{where} has no column {spec.text_field!r} (it has {_listing(ds.column_names)}); name "
                             f"the column that holds the text with {arg('text_field')}", field="text_field")
    docs = list(ds[spec.text_field])
    bad = next((i for i, d in enumerate(docs) if not isinstance(d, str)), None)
    if bad is not None:
        raise LandscapeError(f"{where} row {bad}: column {spec.text_field!r} is {str(docs[bad])[:40]!r}, not text")
    return _from_docs(docs, spec, folder, vocab_size, where, name)


def _from_rows(rows: list[Any], masks: list[Any] | None, where: str, split: str) -> TokenData:
    """A dataset's input_ids column: rows of ids of any lengths, padded to the longest and masked."""
    arrays = [np.asarray(r) for r in rows]
    width = max((len(a) for a in arrays if a.ndim == 1), default=0)
    ids, mask = np.zeros((len(arrays), width), dtype=np.int64), np.zeros((len(arrays), width), dtype=np.int64)
    for i, a in enumerate(arrays):
        m = np.asarray(masks[i]) if masks is not None else np.ones(a.shape, dtype=np.int64)
        if a.ndim != 1 or (len(a) and a.dtype.kind not in "iu") or m.shape != a.shape or m.dtype.kind not in "biu":
            raise LandscapeError(f"{where} row {i}: input_ids must be a list of integer token ids, and attention_mask "
                                 f"0s and 1s, one per id (got {a.dtype} {a.shape} and {m.dtype} {m.shape})")
        ids[i, :len(a)], mask[i, :len(a)] = a, m
    return _from_ids(ids, mask, 0, where, split)  # 2-D: used as it is


def load_tokens(source: str, spec: TextSpec, split: Split | None = None, tokenizer_dir: str | Path | None = None,
                vocab_size: int | None = None) -> TokenData:
    """Token sequences from `source` (see the module's docstring). Text is tokenized with
    `spec.tokenizer`, else the tokenizer in `tokenizer_dir` (the model's folder). Where the model's
    `vocab_size` is known, every id must be below it."""
    path = Path(source)
    where = f"{arg('data')} {source!r}"
    if _is_dataset_folder(path):
        data = _from_dataset_folder(path, spec, split, tokenizer_dir, vocab_size, where)
    elif path.suffix not in (*TEXT_SUFFIXES, *TENSOR_SUFFIXES) or path.is_dir():
        raise LandscapeError(f"{where} is not a .txt, .jsonl, .npy or .pt file of token ids, nor a folder written by "
                             f"datasets' save_to_disk (with {', '.join(DATASET_MARKERS)})")
    else:
        regular_file(path, arg("data"))  # a device reads without end, a FIFO blocks
        if path.suffix in TENSOR_SUFFIXES:
            obj = _load_pt(path, where)
            if not _holds_token_ids(obj):
                raise LandscapeError(f"{where} holds no token ids: save an integer tensor (N, L) or a dict with "
                                     "input_ids (and attention_mask)")
            ids, mask = (obj["input_ids"], obj.get("attention_mask")) if isinstance(obj, dict) else (obj, None)
            data = _from_ids(ids, mask, spec.seq_len, where)
        elif path.suffix == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except Exception as e:  # a damaged file, or one of Python objects
                raise LandscapeError(f"{where} is not a readable .npy file ({type(e).__name__}: {_first_line(e)})") from None
            data = _from_ids(arr, None, spec.seq_len, where)
        else:
            docs = [_read_text(path, where)] if path.suffix == ".txt" else _jsonl_docs(path, spec.text_field, where)
            data = _from_docs(docs, spec, tokenizer_dir, vocab_size, where)
        data = replace(data, split=(split or Split.train).value)  # a file is one part: --split test names it
    if vocab_size is not None and int(data.x.max()) >= vocab_size:
        raise LandscapeError(f"{where}: token id {int(data.x.max())} ≥ the model's vocabulary of {vocab_size}; "
                             "tokenized with another tokenizer?")
    return data
