"""Assistant generation: one-at-a-time vs the batched worker path, same model and greedy settings.

32 critique prompts built from real HH-RLHF conversations go through the bundled SmolLM2-135M-Instruct
(a) one `generate` call per item (the baseline) and (b) the worker's batched path: inputs ordered by
size as `assist_plan_batch` orders them, then chunks of OVERSIGHT_ASSIST_CHUNK_SIZE (and of 8, 16, 32)
through `generate_batch` (shared prefix read once, each prompt read without padding, one batched
decode). Outputs are compared with the baseline's.

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
from assist.services.generation import order_for_batching  # noqa: E402
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
    sizes = [sum(len(m["content"]) for m in c) for c in conversations]
    for chunk in sorted({settings.OVERSIGHT_ASSIST_CHUNK_SIZE, 8, 16, 32}):
        order = order_for_batching(sizes, chunk)  # the worker's order: similar sizes share a chunk
        ordered = [conversations[i] for i in order]
        generated, seconds = timed(
            lambda chunk=chunk, ordered=ordered: [
                g for i in range(0, len(ordered), chunk) for g in backend.generate_batch(ordered[i : i + chunk], greedy)
            ]
        )
        batched = [None] * len(conversations)
        for position, index in enumerate(order):
            batched[index] = generated[position]
        rows.append((f"batched, chunks of {chunk}", chunk, seconds, batched))

    n = len(conversations)
    print(
        f"Critique generation, {n} HH-RLHF prompts, SmolLM2-135M-Instruct (bundled GGUF, fp32, CPU), "
        f"greedy, max_new_tokens={args.max_new_tokens}, {settings.OVERSIGHT_TORCH_THREADS} threads; "
        f"model load {load_seconds:.1f} s"
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
        "items_per_s_single": round(n / single_s, 3),
        **{f"items_per_s_batched_chunk{c}": round(summary[c][0], 3) for c in summary if c != 1},
        f"ratio_batched_chunk{chunk}_vs_single": round(summary[chunk][0] / (n / single_s), 2),
        **{f"ratio_chunk{c}_vs_single": round(summary[c][0] / (n / single_s), 2) for c in summary if c != 1},
        "same_outputs": {f"chunk{c}": f"{summary[c][1]}/{n}" for c in summary if c != 1},
        "default_chunk": chunk,
        "target_ratio": 3.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
