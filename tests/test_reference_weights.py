"""Reference checkpoints: the name and shape mapping against committed torchvision / timm / Hugging
Face key lists.

The fixtures (tests/fixtures/reference_keys, written by benchmarks/make_reference_fixtures.py in an
oracle environment) hold each reference state dict's keys and shapes, so these tests need neither
torchvision, timm nor transformers; benchmarks/check_reference_weights.py checks the logits there.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archzoo
from archzoo.models._reference import PROVIDED, ReferenceWeightsError, plan

FIXTURES = Path(__file__).parent / "fixtures" / "reference_keys"
FILES = sorted(FIXTURES.glob("*.json"))


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _meta_state(doc: dict) -> dict[str, torch.Tensor]:
    return {k: torch.empty(s, device="meta") for k, s in doc["keys"]}


def test_every_provided_architecture_has_a_fixture():
    have = {p.name for p in FILES}
    want = {f"{src}__{ref}.json" for src, table in PROVIDED.items() for ref in table.values()}
    assert want <= have, sorted(want - have)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_maps_fully(path):
    doc = json.loads(path.read_text())
    with torch.device("meta"):
        model = archzoo.create_model(doc["archzoo"], **doc.get("archzoo_args", {}))
    pairs, problems = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source=doc["source"],
                           name=doc["archzoo"])
    assert problems == []
    ours = model.state_dict()
    assert sorted(ok for _, ok, _ in pairs) == sorted(ours)  # every archzoo tensor, once
    assert all(how in ("copy", "reshape") for _, _, how in pairs)
    if doc["source"] != "huggingface":  # there the shapes are checked after stacking q / k / v
        shapes = dict((k, tuple(s)) for k, s in doc["keys"])
        for rk, ok, how in pairs:
            assert shapes[rk] == tuple(ours[ok].shape) or how == "reshape"
            assert torch.Size(shapes[rk]).numel() == ours[ok].numel()


def test_googlenet_aux_heads_map_when_built():
    doc = _fixture("torchvision__googlenet.json")
    with torch.device("meta"):
        model = archzoo.create_model("googlenet_bn", aux_logits=True, aux_adaptive_pool=True)
    pairs, problems = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source="torchvision")
    assert problems == [] and len(pairs) == len(doc["keys"]) == len(model.state_dict())


def _as_reference(model: torch.nn.Module, doc: dict) -> dict[str, torch.Tensor]:
    """archzoo's own weights under the reference names (the mapping is a bijection)."""
    pairs, _ = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source=doc["source"])
    ours, shapes = model.state_dict(), dict(doc["keys"])
    return {rk: ours[ok].reshape(shapes[rk]).clone() for rk, ok, _ in pairs}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_round_trip_from_file(tmp_path, suffix):
    torch.manual_seed(0)
    src = archzoo.create_model("squeezenet1_1").eval()  # its classifier is a 1x1 conv in torchvision
    sd = _as_reference(src, _fixture("torchvision__squeezenet1_1.json"))
    assert sd["classifier.1.weight"].shape == (1000, 512, 1, 1)
    path = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": sd}, path)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    dst = archzoo.load_reference_weights(archzoo.create_model("squeezenet1_1").eval(), path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": Path("x")}, path)  # needs full unpickling
    with pytest.raises(ReferenceWeightsError, match="weights-only"):
        archzoo.load_reference_weights(archzoo.create_model("squeezenet1_1"), path)


def test_wrong_checkpoint_names_the_closest_model():
    sd = _meta_state(_fixture("torchvision__resnet50.json"))
    with torch.device("meta"):
        model = archzoo.create_model("resnet101_v1_5")
    with pytest.raises(ReferenceWeightsError) as e:
        archzoo.load_reference_weights(model, sd, source="torchvision")
    msg = str(e.value)
    assert "\n" not in msg and "resnet101_v1_5" in msg and "closest archzoo model: resnet50_v1_5" in msg


def test_architecture_the_source_lacks():
    with torch.device("meta"):
        model = archzoo.create_model("resnet50")  # v1: stride in the 1x1; torchvision's is v1.5
    with pytest.raises(ReferenceWeightsError, match="torchvision does not provide archzoo's resnet50; "
                                                    "closest it provides: resnet50_v1_5"):
        archzoo.load_reference_weights(model, {}, source="torchvision")
    with pytest.raises(ReferenceWeightsError, match="source 'keras'"):
        archzoo.load_reference_weights(model, {}, source="keras")


def test_transfer_head_and_channels():
    torch.manual_seed(0)
    sd = _as_reference(archzoo.create_model("squeezenet1_1"), _fixture("torchvision__squeezenet1_1.json"))
    model = archzoo.create_model("squeezenet1_1", num_classes=10, in_chans=1)
    with pytest.raises(ReferenceWeightsError):  # a 10-class, 1-channel model needs both options
        archzoo.load_reference_weights(model, sd)
    archzoo.load_reference_weights(model, sd, head=False, adapt_in_chans=True)
    first = next(v for v in model.state_dict().values() if v.ndim == 4)
    assert torch.allclose(first, sd["features.0.weight"].sum(1, keepdim=True))


def test_cli_train_init_freeze_body(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ref = archzoo.create_model("squeezenet1_1")
    sd = _as_reference(ref, _fixture("torchvision__squeezenet1_1.json"))
    save_file(sd, str(tmp_path / "sq.safetensors"))
    out = tmp_path / "run"
    from archzoo.cli import main

    out = tmp_path / "run"
    argv = ["train", "squeezenet1_1", "--data", "digits", "--resize", "64", "--epochs", "1",
            "--max-steps-per-epoch", "2", "--batch-size", "16", "--val-fraction", "0", "--no-progress",
            "--init", str(tmp_path / "sq.safetensors"), "--source", "torchvision", "--freeze", "body",
            "--out", str(out)]
    assert main(argv) == 0
    assert main(argv[:-1] + [str(tmp_path / "r2"), "--source", "timm"]) == 2  # timm lacks squeezenet
    model, meta = archzoo.load_checkpoint(out, tag="last")
    assert meta["num_classes"] == 10
    trained, start = model.state_dict(), archzoo.create_model("squeezenet1_1", in_chans=1, num_classes=10)
    archzoo.load_reference_weights(start, sd, head=False, adapt_in_chans=True)
    for k, v in start.state_dict().items():  # the body is frozen (batch-norm-free squeezenet)
        if not k.startswith("head."):
            assert torch.equal(v, trained[k]), k


def test_freeze_needs_init():
    with pytest.raises(ValueError, match="--freeze body: needs --init"):
        archzoo.TrainConfig(model="squeezenet1_1", freeze="body").check()


def test_timm_departure_is_refused_with_the_difference():
    with torch.device("meta"):
        model = archzoo.create_model("seresnet50")
    with pytest.raises(ReferenceWeightsError) as e:
        archzoo.load_reference_weights(model, {}, source="timm")
    msg = str(e.value)
    assert "\n" not in msg and "timm does not provide archzoo's seresnet50: " in msg
    assert "3x3" in msg and "ceil_mode" in msg


# Hugging Face layouts, written out by hand from small archzoo models (no transformers needed): the
# loader must undo each difference (Conv1D transpose, separate q / k / v, T5's unscaled scores,
# tied tensors left out of the file) to give back the same outputs.

def _qkv(w: torch.Tensor) -> list[torch.Tensor]:
    return list(w.chunk(3, dim=0))


def test_huggingface_gpt2_layout():
    torch.manual_seed(0)
    small = dict(num_layers=2, num_heads=2, dim=16, vocab_size=50, seq_len=12)
    src = archzoo.create_model("gpt2_small", **small).eval()
    w = src.state_dict()
    sd = {"transformer.wte.weight": w["wte.weight"], "transformer.wpe.weight": w["wpe.weight"]}
    for i in range(2):
        b, h = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, theirs in [("norm1", "ln_1"), ("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"),
                             ("norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")]:
            weight = w[b + ours + ".weight"]
            sd[h + theirs + ".weight"] = weight.t().contiguous() if weight.ndim == 2 else weight
            sd[h + theirs + ".bias"] = w[b + ours + ".bias"]
        sd[h + "attn.bias"] = torch.ones(1, 1, 12, 12)  # an older file's causal-mask buffer
    sd |= {"transformer.ln_f.weight": w["ln_f.weight"], "transformer.ln_f.bias": w["ln_f.bias"]}
    dst = archzoo.load_reference_weights(archzoo.create_model("gpt2_small", **small).eval(), sd,
                                         source="huggingface")  # lm_head.weight: tied, left out
    idx = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        assert torch.equal(src(idx), dst(idx))


def _bert_layout(w: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    sd = {f"bert.embeddings.{k}.weight": w[f"{o}.weight"] for k, o in
          [("word_embeddings", "word_embed"), ("position_embeddings", "pos_embed"),
           ("token_type_embeddings", "type_embed")]}
    sd |= {f"bert.embeddings.LayerNorm.{p}": w[f"embed_norm.{p}"] for p in ("weight", "bias")}
    for i in range(layers):
        b, h = f"blocks.{i}.", f"bert.encoder.layer.{i}."
        for p in ("weight", "bias"):
            for name, part in zip(("query", "key", "value"), _qkv(w[b + "attn.qkv." + p])):
                sd[f"{h}attention.self.{name}.{p}"] = part
        for theirs, ours in [("attention.output.dense", "attn.proj"), ("attention.output.LayerNorm", "norm1"),
                             ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2"),
                             ("output.LayerNorm", "norm2")]:
            sd |= {f"{h}{theirs}.{p}": w[f"{b}{ours}.{p}"] for p in ("weight", "bias")}
    sd |= {f"bert.pooler.dense.{p}": w[f"pooler.0.{p}"] for p in ("weight", "bias")}
    sd["cls.predictions.bias"] = w["mlm_out.bias"]  # decoder.weight / .bias: tied, left out
    for theirs, ours in [("predictions.transform.dense", "mlm_transform.0"),
                         ("predictions.transform.LayerNorm", "mlm_transform.2"), ("seq_relationship", "nsp")]:
        sd |= {f"cls.{theirs}.{p}": w[f"{ours}.{p}"] for p in ("weight", "bias")}
    return sd


def test_huggingface_bert_layout_with_and_without_heads():
    torch.manual_seed(0)
    small = dict(vocab_size=40, seq_len=16, num_layers=2, num_heads=2, dim=16, mlp_dim=32)
    src = archzoo.create_model("bert_base", pretraining_heads=True, **small).eval()
    sd = _bert_layout(src.state_dict(), 2)
    dst = archzoo.create_model("bert_base", pretraining_heads=True, **small).eval()
    archzoo.load_reference_weights(dst, sd, source="huggingface")
    plain = archzoo.load_reference_weights(archzoo.create_model("bert_base", **small).eval(), sd,
                                           source="huggingface")  # the heads' tensors are dropped
    idx, types = torch.randint(0, 40, (2, 16)), torch.randint(0, 2, (2, 16))
    with torch.no_grad():
        for a, b in zip(src.pretraining_logits(idx, token_type_ids=types),
                        dst.pretraining_logits(idx, token_type_ids=types)):
            assert torch.equal(a, b)
        assert torch.equal(src.encode(idx)[0], plain(idx))


def test_huggingface_t5_layout_unscaled_attention():
    torch.manual_seed(0)
    small = dict(src_vocab=30, tgt_vocab=30, dim=16, num_heads=2, mlp_dim=24, encoder_layers=2,
                 decoder_layers=2, num_buckets=8, max_distance=16)
    src = archzoo.create_model("t5_small", **small).eval()
    w, hs = src.state_dict(), 16 // 2

    def attn(prefix: str, ours: str) -> dict[str, torch.Tensor]:
        q, k, v = _qkv(w[ours + ".qkv.weight"])  # T5 leaves the scores unscaled: W_q carries it
        return {prefix + ".q.weight": q / hs ** 0.5, prefix + ".k.weight": k, prefix + ".v.weight": v,
                prefix + ".o.weight": w[ours + ".proj.weight"]}

    sd = {"shared.weight": w["tgt_embed.weight"]}  # the embed_tokens and lm_head: tied, left out
    for i in range(2):
        e, o = f"encoder.block.{i}.layer.", f"encoder.{i}."
        sd |= attn(e + "0.SelfAttention", o + "attn")
        if i == 0:
            sd[e + "0.SelfAttention.relative_attention_bias.weight"] = w["enc_bias.embedding.weight"]
        sd |= {e + "0.layer_norm.weight": w[o + "norm1.weight"],
               e + "1.DenseReluDense.wi.weight": w[o + "mlp.fc1.weight"],
               e + "1.DenseReluDense.wo.weight": w[o + "mlp.fc2.weight"],
               e + "1.layer_norm.weight": w[o + "norm2.weight"]}
    sd["encoder.final_layer_norm.weight"] = w["enc_norm.weight"]
    for i in range(2):
        d, o = f"decoder.block.{i}.layer.", f"decoder.{i}."
        sd |= attn(d + "0.SelfAttention", o + "self_attn")
        if i == 0:
            sd[d + "0.SelfAttention.relative_attention_bias.weight"] = w["dec_bias.embedding.weight"]
        sd[d + "0.layer_norm.weight"] = w[o + "norm1.weight"]
        sd |= attn(d + "1.EncDecAttention", o + "cross_attn")
        sd |= {d + "1.layer_norm.weight": w[o + "norm2.weight"],
               d + "2.DenseReluDense.wi.weight": w[o + "mlp.fc1.weight"],
               d + "2.DenseReluDense.wo.weight": w[o + "mlp.fc2.weight"],
               d + "2.layer_norm.weight": w[o + "norm3.weight"]}
    sd["decoder.final_layer_norm.weight"] = w["dec_norm.weight"]
    dst = archzoo.load_reference_weights(archzoo.create_model("t5_small", **small).eval(), sd,
                                         source="huggingface")
    s, t = torch.randint(0, 30, (2, 9)), torch.randint(0, 30, (2, 5))
    with torch.no_grad():
        assert torch.allclose(src(s, torch.tensor([9, 7]), t), dst(s, torch.tensor([9, 7]), t), atol=1e-6)


def test_huggingface_vit_takes_its_layer_norm_eps():
    doc = _fixture("huggingface__vit-base-patch16-224.json")
    with torch.device("meta"):
        model = archzoo.create_model("vit_b_16")
    archzoo.load_reference_weights(model, _meta_state(doc), source="huggingface")
    assert {m.eps for m in model.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-12}


def test_huggingface_half_a_projection_is_refused():
    doc = _fixture("huggingface__bert-base-uncased.json")
    sd = {k: v for k, v in _meta_state(doc).items() if k != "bert.encoder.layer.3.attention.self.value.bias"}
    with torch.device("meta"):
        model = archzoo.create_model("bert_base", pretraining_heads=True)
    with pytest.raises(ReferenceWeightsError, match=r"layer\.3\.attention\.self\.qkv\.bias: expected "
                       r"the query/key/value projections to stack, got only key/query"):
        archzoo.load_reference_weights(model, sd, source="huggingface")


def _old_vit_name(key: str) -> str:
    """transformers 4's name of a transformers 5 ViT key."""
    key = key.replace(".layers.", ".encoder.layer.").replace(".attention.o_proj.", ".attention.output.dense.")
    for p, full in (("q", "query"), ("k", "key"), ("v", "value")):
        key = key.replace(f".attention.{p}_proj.", f".attention.attention.{full}.")
    return key.replace(".mlp.fc1.", ".intermediate.dense.").replace(".mlp.fc2.", ".output.dense.")


@pytest.mark.parametrize("arch, fixture, rewrite", [
    ("vit_b_16", "huggingface__vit-base-patch16-224.json", _old_vit_name),
    ("gpt2_small", "huggingface__gpt2.json", lambda k: k.removeprefix("transformer.")),
    ("bert_base", "huggingface__bert-base-uncased.json",
     lambda k: k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")),
])
def test_huggingface_files_as_published(arch, fixture, rewrite):
    """Sorted by name (safetensors), tied tensors stored once, older names and buffers."""
    doc = _fixture(fixture)
    keys = {rewrite(k): tuple(s) for k, s in doc["keys"]
            if k not in ("lm_head.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias")}
    if arch == "gpt2_small":
        keys |= {f"h.{i}.attn.bias": (1, 1, 1024, 1024) for i in range(12)}
    assert any(k not in dict(doc["keys"]) for k in keys)  # the names really are the old ones
    sd = {k: torch.empty(keys[k], device="meta") for k in sorted(keys)}
    with torch.device("meta"):
        model = archzoo.create_model(arch, **doc.get("archzoo_args", {}))
    archzoo.load_reference_weights(model, sd, source="huggingface")
