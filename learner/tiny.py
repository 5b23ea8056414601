"""Build a tiny causal LM from scratch: a byte-level BPE tokenizer trained on your texts and a
randomly initialised Qwen2-architecture model, saved as a Hugging Face folder that transformers,
DeepSpeed and vLLM load. Used by the embedded CPU default and by the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2: pad, bos, eos


class TinyModelConfig(BaseModel):
    """Size of a tiny model built from scratch (head_dim = hidden_size / num_heads must be 32 or 64 for vLLM)."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(512, ge=300, description="BPE vocabulary size of text worlds (including 256 byte symbols and specials); token worlds bring their own")
    hidden_size: int = Field(64, ge=32, description="Model width")
    num_layers: int = Field(2, ge=1, description="Transformer layers")
    num_heads: int = Field(2, ge=1, description="Attention heads (head_dim = hidden_size / num_heads)")
    intermediate_size: int = Field(128, ge=16, description="MLP width")
    max_positions: int = Field(2048, ge=64, description="Longest sequence the model supports")


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer (no unknown tokens) with <pad>, <s>, </s> specials."""
    import platform_compat

    platform_compat.apply()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=sys.stderr.isatty(),  # its bar on a terminal; blank lines in a log otherwise
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def _architecture(config: TinyModelConfig, vocab_size: int, bos: int, eos: int, pad: int) -> dict:
    """Config fields shared by the Qwen2 (text) and Llama (token) builds."""
    return dict(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        head_dim=config.hidden_size // config.num_heads,
        max_position_embeddings=config.max_positions,
        tie_word_embeddings=True,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        torch_dtype="float32",
    )


def build_tiny_model(texts: Iterable[str], out_dir: str | Path, config: TinyModelConfig | None = None, seed: int = 0) -> Path:
    """Train the tokenizer on `texts`, initialise the model, save both to `out_dir`; returns it."""
    import platform_compat

    platform_compat.apply()
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    config = config or TinyModelConfig()
    out_dir = Path(out_dir)
    trained = train_tokenizer(texts, config.vocab_size)
    trained.save_pretrained(out_dir)
    Qwen2Config(vocab_size=len(trained)).save_pretrained(out_dir)
    # load it back as every consumer (vLLM, the trainer) will: beside a qwen2 config, transformers
    # picks Qwen2Tokenizer, which adds a token; the embedding must cover it
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    model_config = Qwen2Config(**_architecture(config, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id))
    torch.manual_seed(seed)
    Qwen2ForCausalLM(model_config).save_pretrained(out_dir)
    return out_dir


def build_token_model(vocab_size: int, special_ids: dict[str, int], out_dir: str | Path, config: TinyModelConfig | None = None, seed: int = 0) -> Path:
    """A randomly initialised Llama-architecture model over a given token vocabulary, with no text
    tokenizer (video: frame codes, action bins and specials); vLLM serves it from token ids alone.
    `special_ids` holds the ids of "bos", "eos" and "pad"."""
    import platform_compat

    platform_compat.apply()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = config or TinyModelConfig()
    model_config = LlamaConfig(**_architecture(config, vocab_size, special_ids["bos"], special_ids["eos"], special_ids["pad"]))
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    LlamaForCausalLM(model_config).save_pretrained(out_dir)
    return out_dir
