"""``fedforget.models.causal_lm``: config-built GPT-2/Llama decoders (no download, seeded),
``hf:<folder>`` checkpoints with their tokenizer, LoRA through peft (only the adapters
train and travel), and bad input refused with the field, the value and the fix."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from fedforget.config import ModelConfig  # noqa: E402
from fedforget.models.causal_lm import (  # noqa: E402
    build_causal_lm,
    causal_lm,
    lm_config_dict,
    lm_spec,
    load_pretrained,
    model_context,
    set_trainable_arrays,
    trainable_arrays,
)
from fedforget.tasks import get_task  # noqa: E402
from fedforget.tasks.tokenizer import ByteTokenizer, HFTokenizer, encode_batch  # noqa: E402
from fedforget.util.errors import ConfigError  # noqa: E402

TINY = {"layers": 1, "heads": 2, "hidden": 16, "context": 32}


def _weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_config_built_model_is_seeded_and_trains_fully(arch: str) -> None:
    spec = lm_spec({**TINY, "arch": arch})
    (a, tok), (b, _), (c, _) = build_causal_lm(spec, 3), build_causal_lm(spec, 3), build_causal_lm(spec, 4)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)
    assert isinstance(tok, ByteTokenizer) and model_context(a) == 32
    assert set(trainable_arrays(a)) == {n for n, _ in a.named_parameters()}  # full-parameter mode
    batch = encode_batch(tok, ["Kelbo was born in Tharn.", "hi"], 32)
    logits = get_task("causal_lm").forward(a, batch)
    assert logits.shape == (2, batch["input_ids"].shape[1], 259)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_lora_trains_only_the_adapters_and_they_round_trip(arch: str) -> None:
    spec = lm_spec({**TINY, "arch": arch, "lora": {"r": 2, "alpha": 4}})
    model, tok = build_causal_lm(spec, 0)
    travel = trainable_arrays(model)
    assert travel and all("lora_" in n for n in travel)
    assert sum(v.size for v in travel.values()) < 0.2 * sum(p.numel() for p in model.parameters())
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    task = get_task("causal_lm")
    batch = encode_batch(tok, ["Kelbo was born in Tharn."] * 4, 32)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        task.loss(task.forward(model, batch), batch).backward()
        opt.step()
    after = trainable_arrays(model)
    assert any(not np.array_equal(after[n], travel[n]) for n in travel)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    # the arrays that travel load back into a fresh model and give the same outputs
    fresh, _ = build_causal_lm(spec, 0)
    set_trainable_arrays(fresh, after)
    model.eval()
    fresh.eval()
    assert torch.allclose(task.forward(fresh, batch), task.forward(model, batch))
    with pytest.raises(ConfigError, match="do not match the model"):
        set_trainable_arrays(fresh, {k: v for k, v in list(after.items())[1:]})


def test_hf_checkpoint_with_its_tokenizer_and_without(tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    model, _ = build_causal_lm(lm_spec({**TINY, "vocab": 300}), 7)
    model.save_pretrained(tmp_path / "bare")
    words = ["<pad>", "<eos>", "the", "cat", "sat", "on", "mat"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")
    model.save_pretrained(tmp_path / "full")
    hf_tok.save_pretrained(tmp_path / "full")

    loaded, tok = load_pretrained(f"hf:{tmp_path / 'full'}")
    assert isinstance(tok, HFTokenizer) and tok.encode("the cat sat") == [2, 3, 4] and tok.pad_id == 0
    assert all(np.array_equal(w, _weights(model)[k]) for k, w in _weights(loaded).items())
    bare, btok = build_causal_lm(lm_spec({"name": f"hf:{tmp_path / 'bare'}", "context": 16, "lora": {"r": 2}}), 0)
    assert isinstance(btok, ByteTokenizer) and all("lora_" in n for n in trainable_arrays(bare))

    with pytest.raises(ConfigError, match=r"model.context 64 is above the checkpoint's context of 32"):
        build_causal_lm(lm_spec({"name": f"hf:{tmp_path / 'bare'}", "context": 64}), 0)
    with pytest.raises(ConfigError, match=r"checkpoint folder .*nope' does not exist.*save_pretrained"):
        load_pretrained(f"hf:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="has no config.json"):
        load_pretrained(f"hf:{tmp_path}")


def test_tokenizer_vocabulary_must_fit_the_model(tmp_path) -> None:
    import transformers

    from fedforget.models.causal_lm import _config  # the config a spec builds, at vocab 100

    transformers.AutoModelForCausalLM.from_config(_config(lm_spec({**TINY, "vocab": 100}))).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="tokenizer has 259 tokens but the model's vocabulary is 100"):
        load_pretrained(f"hf:{tmp_path}")
    with pytest.raises(ConfigError, match="model.vocab: the tokenizer has 259"):
        build_causal_lm(lm_spec({**TINY, "vocab": 100}), 0)


def test_bad_specs_name_field_value_and_fix() -> None:
    with pytest.raises(ConfigError, match=r"model.lora.target_modules: 'q_proj' is not a linear module of this gpt2.*c_attn"):
        build_causal_lm(lm_spec({**TINY, "lora": {"target_modules": ["q_proj"]}}), 0)
    with pytest.raises(ConfigError, match="model.heads must divide model.hidden, got 3 heads and hidden 16"):
        lm_spec({**TINY, "heads": 3})
    with pytest.raises(ConfigError, match=r"model.name must be 'causal_lm' or 'hf:"):
        lm_spec({"name": "gpt2"})
    with pytest.raises(ConfigError, match=r"model.lora.r must be an int > 0, got 0"):
        lm_spec({"lora": {"r": 0}})
    with pytest.raises(ConfigError, match="unknown key model.depth"):
        lm_spec({"depth": 3})
    spec = lm_spec({**TINY, "arch": "llama", "lora": {"r": 4, "target_modules": ["q_proj", "k_proj"]}})
    assert lm_spec(lm_config_dict(spec)) == spec


def test_registry_style_factory_uses_the_model_config() -> None:
    cfg = ModelConfig(name="causal_lm", layers=1, heads=2, embed_dim=16, vocab_size=259)
    model = causal_lm(cfg, (24,), 259)
    assert model_context(model) == 24 and model.config.n_embd == 16
    with pytest.raises(ConfigError, match="model.vocab_size 259 is below the data's 300 tokens"):
        causal_lm(cfg, (24,), 300)
    with pytest.raises(ConfigError, match=r"needs token sequences of shape \(length,\)"):
        causal_lm(cfg, (3, 8, 8), 259)


def test_missing_libraries_name_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'fedforget\[lm\]'"):
        build_causal_lm(lm_spec(TINY), 0)
