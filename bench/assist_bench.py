"""Assistant generation: one-at-a-time vs the batched worker path, same model and greedy settings.

32 critique prompts built from real HH-RLHF conversations go through the bundled SmolLM2-135M-Instruct
(a) one `generate` call per item (the baseline) and (b) the worker's batched path: chunks of
OVERSIGHT_ASSIST_CHUNK_SIZE (and of 32) in one left-padded `generate` call each. Outputs are compared.

    ./oversight bench assist_bench [--items 32] [--max-new-tokens 48]
"""

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from assist.backends.base import GenerationSettings  # noqa: E402
from assist.backends.local import BUNDLED_SMOLLM2, LocalTransformersBackend, load_model  # noqa: E402
from bench._setup import HH_FILE  # noqa: E402


def critique_conversations(n: int) -> list[list[dict]]:
    from assist import prompts as defaults

    with gzip.open(HH_FILE, "rt") as f:
        pairs = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    out = []
    for pair in pairs:
        prompt, _, response = pair["chosen"].rpartition("\n\nAssistant:")
        user = defaults.CRITIQUE_TEMPLATE.format(prompt=prompt.strip()[-1500:], response=response.strip()[:1500])
        out.append([{"role": "system", "content": defaults.CRITIQUE_SYSTEM}, {"role": "user", "content": user}])
    return out


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=settings.OVERSIGHT_ASSIST_MAX_NEW_TOKENS)
    args = parser.parse_args()
    conversations = critique_conversations(args.items)
    backend = LocalTransformersBackend(name="local", model=BUNDLED_SMOLLM2)
    greedy = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0)
    _, load_seconds = timed(lambda: load_model(BUNDLED_SMOLLM2))
    backend.generate_batch(conversations[:2], greedy)  # warm-up

    single, single_s = timed(lambda: [backend.generate_batch([c], greedy)[0] for c in conversations])
    rows = [("one at a time (baseline)", 1, single_s, single)]
    for chunk in sorted({settings.OVERSIGHT_ASSIST_CHUNK_SIZE, 32}):
        batched, seconds = timed(
            lambda chunk=chunk: [
                g
                for i in range(0, len(conversations), chunk)
                for g in backend.generate_batch(conversations[i : i + chunk], greedy)
            ]
        )
        rows.append((f"batched, chunks of {chunk}", chunk, seconds, batched))

    n = len(conversations)
    print(
        f"Critique generation, {n} HH-RLHF prompts, SmolLM2-135M-Instruct (bundled GGUF, fp32, CPU), "
        f"greedy, max_new_tokens={args.max_new_tokens}; model load {load_seconds:.1f} s"
    )
    print(f"{'path':28} {'chunk':>5} {'seconds':>8} {'items/s':>8} {'tokens/s':>9} {'same text as baseline':>22}")
    baseline_texts = [g.text for g in single]
    summary = {}
    for label, chunk, seconds, gens in rows:
        tokens = sum(g.completion_tokens for g in gens)
        same = sum(a == g.text for a, g in zip(baseline_texts, gens, strict=True))
        print(f"{label:28} {chunk:5d} {seconds:8.2f} {n / seconds:8.2f} {tokens / seconds:9.1f} {same:>17d}/{n}")
        summary[chunk] = (n / seconds, same)
    chunk = settings.OVERSIGHT_ASSIST_CHUNK_SIZE
    result = {
        "items": n,
        "items_per_s_single": round(summary[1][0] if 1 in summary else n / single_s, 3),
        f"items_per_s_batched_chunk{chunk}": round(summary[chunk][0], 3),
        "items_per_s_batched_chunk32": round(summary[32][0], 3),
        f"ratio_batched_chunk{chunk}_vs_single": round(summary[chunk][0] / (n / single_s), 2),
        "ratio_batched_chunk32_vs_single": round(summary[32][0] / (n / single_s), 2),
        "same_outputs_chunk32": f"{summary[32][1]}/{n}",
        "target_ratio": 3.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
