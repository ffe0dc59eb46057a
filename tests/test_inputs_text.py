"""inputs/text.py: token data for causal language models (text, token ids, datasets folders),
checked against a tiny word-level tokenizer built here, without downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.choices import Split
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.text import TextSpec, TokenData, is_text_source, load_tokenizer, load_tokens

SENTENCES = ["the cat sat on the mat", "a dog ran far away", "the end"]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    """A word-level tokenizer saved by save_pretrained: [UNK]=0, [EOS]=1, [PAD]=2 (not 0, so padding is seen),
    then the words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[EOS]", "[PAD]"]))
    folder = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="[EOS]", pad_token="[PAD]",
                            unk_token="[UNK]").save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vocab(tok_dir) -> dict[str, int]:
    return json.loads((tok_dir / "tokenizer.json").read_text())["model"]["vocab"]


def ids_of(text: str, vocab: dict[str, int]) -> list[int]:
    return [vocab[w] for w in text.split()]


def error(fn, *args, **kwargs) -> LandscapeError:
    """The LandscapeError `fn` raises, checked to be one line."""
    with pytest.raises(LandscapeError) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)
    return e.value


def test_txt_is_cut_into_padded_sequences(tmp_path, tok_dir, vocab):
    text = "the cat sat on the mat a dog ran far away"  # 11 words: 4 + 4 + 3
    (tmp_path / "t.txt").write_text(text)
    d = load_tokens(str(tmp_path / "t.txt"), TextSpec(seq_len=4), tokenizer_dir=tok_dir)
    assert isinstance(d, TokenData) and d.x.dtype == d.y.dtype == torch.int64 and d.x.shape == (3, 4)
    assert d.x[d.y.bool()].tolist() == ids_of(text, vocab)
    assert d.y.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]]
    assert d.x[2, 3] == vocab["[PAD]"] == 2
    assert (d.split, d.seq_len, d.tokenizer) == ("train", 4, str(tok_dir))
    (tmp_path / "nine.txt").write_text("the cat sat on the mat a dog ran")  # 4 + 4 + 1: a lone token predicts nothing
    assert load_tokens(str(tmp_path / "nine.txt"), TextSpec(seq_len=4, tokenizer=str(tok_dir))).x.shape == (2, 4)


def test_jsonl_documents_are_joined_with_eos(tmp_path, tok_dir, vocab):
    lines = [json.dumps({"body": "the cat sat", "id": 1}), "", json.dumps({"body": "a dog", "id": 2}), "  "]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    d = load_tokens(str(tmp_path / "d.jsonl"), TextSpec(seq_len=16, text_field="body"), tokenizer_dir=tok_dir)
    eos = vocab["[EOS]"]
    assert d.x.shape == (1, 16) and d.tokens == 6
    assert d.x[0, :6].tolist() == ids_of("the cat sat", vocab) + [eos] + ids_of("a dog", vocab)


def test_jsonl_errors_name_the_line(tmp_path, tok_dir):
    (tmp_path / "d.jsonl").write_text('{"text": "the cat"}\n\n{"body": "a dog", "id": 2}\n')
    e = error(load_tokens, str(tmp_path / "d.jsonl"), TextSpec(), tokenizer_dir=tok_dir)
    assert "line 3" in str(e) and "'text'" in str(e) and "body, id" in str(e) and e.field == "text_field"
    assert "--text-field" in for_cli(e.message)
    (tmp_path / "bad.jsonl").write_text('{"text": "the cat"}\n{"text": "a\n')
    assert "line 2 is not valid JSON" in str(error(load_tokens, str(tmp_path / "bad.jsonl"), TextSpec(),
                                                     tokenizer_dir=tok_dir))


def test_text_needs_a_tokenizer_and_enough_tokens(tmp_path, tok_dir):
    (tmp_path / "t.txt").write_text("cat")
    e = error(load_tokens, str(tmp_path / "t.txt"), TextSpec())
    assert e.field == "tokenizer" and "--tokenizer FOLDER" in for_cli(e.message)
    assert "holds 1 token;" in str(error(load_tokens, str(tmp_path / "t.txt"), TextSpec(), tokenizer_dir=tok_dir))
    e = error(load_tokenizer, tmp_path)  # a folder with no tokenizer in it
    assert "holds no tokenizer" in str(e) and "--tokenizer FOLDER" in for_cli(e.message)
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "tokenizer.json").write_text('{"model": ')
    assert "holds no readable tokenizer" in str(error(load_tokenizer, tmp_path / "damaged"))
    assert "is not a folder" in str(error(load_tokenizer, tmp_path / "missing"))
    (tmp_path / "model").mkdir()  # a model folder without a tokenizer: transformers 5 would make an empty one
    (tmp_path / "model" / "config.json").write_text('{"model_type": "gpt2"}')
    e = error(load_tokens, str(tmp_path / "t.txt"), TextSpec(), tokenizer_dir=tmp_path / "model")
    assert "holds no tokenizer" in str(e) and e.field == "tokenizer"


def test_pre_tokenized_arrays(tmp_path):
    seqs = np.arange(12, dtype=np.uint16).reshape(3, 4)
    np.save(tmp_path / "s.npy", seqs)
    d = load_tokens(str(tmp_path / "s.npy"), TextSpec(seq_len=64))  # (N, L) used as it is; seq_len ignored
    assert d.x.tolist() == seqs.tolist() and bool(d.y.eq(1).all()) and d.seq_len == 4
    assert (d.tokenizer, d.split, d.x.dtype) == ("pre-tokenized", "train", torch.int64)
    np.save(tmp_path / "stream.npy", np.arange(10, 20))
    d = load_tokens(str(tmp_path / "stream.npy"), TextSpec(seq_len=4))  # a 1-D stream is cut like text
    assert d.x.shape == (3, 4) and d.x[d.y.bool()].tolist() == list(range(10, 20))
    assert d.y[2].tolist() == [1, 1, 0, 0] and d.seq_len == 4
    torch.save(torch.from_numpy(seqs.astype(np.int64)), tmp_path / "s.pt")
    assert load_tokens(str(tmp_path / "s.pt"), TextSpec()).x.tolist() == seqs.tolist()
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    torch.save({"input_ids": torch.from_numpy(seqs.astype(np.int64)), "attention_mask": mask}, tmp_path / "m.pt")
    d = load_tokens(str(tmp_path / "m.pt"), TextSpec())
    assert d.y.tolist() == mask.tolist() and d.tokens == 9 and d.predicted == 6


def test_is_text_source(tmp_path):
    torch.save({"x": torch.zeros(4, 2), "y": torch.arange(4)}, tmp_path / "xy.pt")  # load_data's format
    torch.save(torch.zeros(4, 2, dtype=torch.int64), tmp_path / "ids.pt")
    torch.save({"input_ids": torch.zeros(4, 2, dtype=torch.int64)}, tmp_path / "dict.pth")
    torch.save(torch.zeros(4, 2), tmp_path / "floats.pt")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "state.json").write_text("{}")
    (tmp_path / "plain").mkdir()
    yes = ["a.txt", "a.jsonl", "a.npy", "ids.pt", "dict.pth", "ds"]
    no = ["xy.pt", "floats.pt", "broken.pt", "missing.pt", "plain", "a.npz", "digits"]
    assert [is_text_source(str(tmp_path / n)) for n in yes] == [True] * len(yes)
    assert [is_text_source(str(tmp_path / n)) for n in no] == [False] * len(no)
    e = error(load_tokens, str(tmp_path / "xy.pt"), TextSpec())
    assert "holds no token ids" in str(e)


@pytest.mark.parametrize("array, words", [
    (np.ones((2, 4), dtype=np.float32), "float32 values, not token ids"),
    (np.ones((2, 4, 3), dtype=np.int64), "3 dimensions"),
    (np.array([[1, 2], [-1, 3]]), "negative token id (-1)"),
    (np.array([[1], [2]]), "sequences of 1 token"),
])
def test_bad_arrays_are_refused(tmp_path, array, words):
    np.save(tmp_path / "a.npy", array)
    assert words in str(error(load_tokens, str(tmp_path / "a.npy"), TextSpec()))


def test_vocabulary_check(tmp_path, tok_dir):
    np.save(tmp_path / "s.npy", np.array([[5, 50300, 7]]))
    e = error(load_tokens, str(tmp_path / "s.npy"), TextSpec(), vocab_size=50257)
    assert "token id 50300 ≥ the model's vocabulary of 50257" in str(e)
    assert len(load_tokens(str(tmp_path / "s.npy"), TextSpec(), vocab_size=50301)) == 1
    (tmp_path / "t.txt").write_text("the cat sat on the mat")
    e = error(load_tokens, str(tmp_path / "t.txt"), TextSpec(), tokenizer_dir=tok_dir, vocab_size=4)
    assert "≥ the model's vocabulary of 4" in str(e)


def test_left_padding_is_refused(tmp_path):
    """Positions follow a token's place in its row: a masked token before a real one would shift them."""
    ids = torch.tensor([[5, 6, 7, 8], [0, 6, 7, 8]])
    torch.save({"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])}, tmp_path / "left.pt")
    e = error(load_tokens, str(tmp_path / "left.pt"), TextSpec())
    assert "sequence 1 has a real token after padding" in str(e) and "\n" not in str(e)
    torch.save({"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}, tmp_path / "right.pt")
    assert load_tokens(str(tmp_path / "right.pt"), TextSpec()).tokens == 5


def test_split(tmp_path, tok_dir):
    (tmp_path / "t.txt").write_text("the cat sat")
    np.save(tmp_path / "s.npy", np.zeros((2, 3), dtype=np.int64))
    for name in ("t.txt", "s.npy"):  # a file is one part: --split names it (held-out text: test)
        assert load_tokens(str(tmp_path / name), TextSpec(), Split.test, tok_dir).split == "test"
        assert load_tokens(str(tmp_path / name), TextSpec(), Split.train, tok_dir).split == "train"
        assert load_tokens(str(tmp_path / name), TextSpec(), None, tok_dir).split == "train"


def test_seq_len_and_text_field_are_checked():
    for bad in (1, 0, -3, 2.5, True):
        e = error(TextSpec, seq_len=bad)
        assert e.field == "seq_len" and "--seq-len" in for_cli(e.message)
    assert error(TextSpec, text_field="").field == "text_field"


def test_counts_subset_take_and_digest():
    x = torch.arange(12).view(3, 4)
    y = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    d = TokenData(x, y, "test", "tok", 4)
    assert (len(d), d.tokens, d.predicted) == (3, 5, 3)
    for part in (d.subset(1, 3), d.take(torch.tensor([2, 1]))):
        assert isinstance(part, TokenData) and (part.split, part.tokenizer, part.seq_len) == ("test", "tok", 4)
    assert d.take(torch.tensor([2, 0])).x.tolist() == [x[2].tolist(), x[0].tolist()]
    assert d.subset(1, 3).x.tolist() == x[1:3].tolist()
    assert d.nbytes == x.nbytes + y.nbytes
    assert d.sha256() == TokenData(x.clone(), y.clone(), "test", "tok", 4).sha256()
    assert d.sha256() != TokenData(x, y, "test", "tok", 5).sha256()
    assert d.sha256() != TokenData(x, y, "test", "other", 4).sha256()


def test_datasets_folders(tmp_path, tok_dir, vocab):
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install datasets)")
    text = datasets.Dataset.from_dict({"body": ["the cat sat", "a dog"], "n": [1, 2]})
    text.save_to_disk(str(tmp_path / "text"))
    assert is_text_source(str(tmp_path / "text"))
    d = load_tokens(str(tmp_path / "text"), TextSpec(seq_len=8, text_field="body"), tokenizer_dir=tok_dir)
    assert d.x[0, :6].tolist() == ids_of("the cat sat", vocab) + [vocab["[EOS]"]] + ids_of("a dog", vocab)
    e = error(load_tokens, str(tmp_path / "text"), TextSpec(), tokenizer_dir=tok_dir)
    assert "no column 'text' (it has body, n)" in str(e) and e.field == "text_field"
    assert load_tokens(str(tmp_path / "text"), TextSpec(seq_len=8, text_field="body"), Split.test,
                       tok_dir).split == "test"  # one Dataset is one part: --split names it

    ids = datasets.Dataset.from_dict({"input_ids": [[5, 6, 7], [8, 9]]})
    datasets.DatasetDict({"train": ids, "test": datasets.Dataset.from_dict({"input_ids": [[3, 4]]})}) \
        .save_to_disk(str(tmp_path / "dict"))
    d = load_tokens(str(tmp_path / "dict"), TextSpec())
    assert d.x.tolist() == [[5, 6, 7], [8, 9, 0]] and d.y.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert (d.split, d.tokenizer, d.seq_len, d.predicted) == ("train", "pre-tokenized", 3, 3)
    d = load_tokens(str(tmp_path / "dict"), TextSpec(), Split.test)
    assert d.x.tolist() == [[3, 4]] and d.split == "test"

    datasets.DatasetDict({"validation": ids}).save_to_disk(str(tmp_path / "val"))
    e = error(load_tokens, str(tmp_path / "val"), TextSpec())
    assert "no 'train' split (it has validation)" in str(e)
