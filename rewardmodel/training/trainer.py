"""Bradley-Terry reward-model training.

- loss: -log σ(r_chosen - r_rejected - margin), margin optional;
- a batch is a set of prompt groups: every distinct response in it goes through the model in one
  forward pass, and every pair is scored from those rewards;
- length-grouped batches (groups sorted by length inside shuffled mega-batches) and dynamic padding,
  so little compute goes to padding;
- deterministic with a seed on CPU; checkpoints every `checkpoint_every` steps and resumes from the
  last one; runs under `accelerate launch` / `torchrun` on several GPUs unchanged (batches are split by
  process, gradients averaged by the Accelerator).
"""

import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rewardmodel.training.data import Group
from rewardmodel.training.model import load_backbone

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
SUMMARY_FILE = "training_summary.json"


@dataclass
class TrainConfig:
    base_model: str = "bundled:minilm"
    max_length: int = 256
    batch_size: int = 16  # pairs per optimisation step
    learning_rate: float = 5e-5
    epochs: int = 1
    seed: int = 0
    use_margin: bool = True
    # Off by default, as in TRL's RewardTrainer: reward models do not gain from it, and on CPU the
    # attention-dropout masks cost a third of the forward pass (and rule out the fused attention kernel).
    dropout: bool = False
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    checkpoint_every: int = 50
    megabatch: int = 50  # groups are length-sorted within windows of megabatch x batch_size pairs
    pad_to_multiple_of: int = 8  # fewer distinct shapes: kernels and buffers are reused across steps

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Encoded:
    input_ids: list[list[int]]  # one list per response of the group
    length: int


def encode_groups(groups: list[Group], tokenizer, max_length: int) -> list[Encoded]:  # type: ignore[no-untyped-def]
    """Tokenize every response once, as one text: the prompt, a space, the response (the layout TRL's
    RewardTrainer and most published reward models use; a BERT-style sentence pair scored 0.01-0.02
    lower on HH-RLHF). Over `max_length`, tokens go from the longer of prompt and response, from the
    left, so the latest turns of the conversation and the end of the response survive."""
    if not groups:
        return []
    prompts = [group.prompt + " " if group.prompt else "" for group in groups]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    texts = [prompt + response for prompt, group in zip(prompts, groups, strict=True) for response in group.responses]
    prompt_lengths = [n for n, group in zip(lengths, groups, strict=True) for _ in group.responses]
    tokens = tokenizer(texts, return_special_tokens_mask=True, verbose=False)  # long rows are cut below
    rows = [
        _truncate(ids, special, prompt_length, max_length)
        for ids, special, prompt_length in zip(
            tokens["input_ids"], tokens["special_tokens_mask"], prompt_lengths, strict=True
        )
    ]
    out, position = [], 0
    for group in groups:
        chunk = rows[position : position + len(group.responses)]
        position += len(group.responses)
        out.append(Encoded(input_ids=chunk, length=max(len(r) for r in chunk)))
    return out


def _truncate(ids: list[int], special: list[int], prompt_length: int, max_length: int) -> list[int]:
    """Fit `ids` (the tokenizer's special tokens around prompt + response) in `max_length`, keeping the
    special tokens and cutting from the left of whichever of prompt and response is longer."""
    if len(ids) <= max_length:
        return ids
    positions = [i for i, flag in enumerate(special) if not flag]
    if not positions:
        return ids
    first, last = positions[0], positions[-1] + 1
    content = ids[first:last]
    budget = max(max_length - (len(ids) - len(content)), 0)
    prompt_length = min(prompt_length, len(content))  # the boundary token may merge across the space
    response_length = len(content) - prompt_length
    half = budget // 2
    if prompt_length <= half:
        keep_prompt = prompt_length
    elif response_length <= budget - half:
        keep_prompt = budget - response_length
    else:
        keep_prompt = half  # both long: the response gets the odd token
    keep_response = budget - keep_prompt
    kept = content[prompt_length - keep_prompt : prompt_length] + content[len(content) - keep_response :]
    return ids[:first] + kept + ids[last:]


def plan_batches(groups: list[Group], encoded: list[Encoded], config: TrainConfig, epoch: int) -> list[list[int]]:
    """Group indices per step: shuffled, then length-sorted inside mega-batches, then cut into batches
    of about `batch_size` pairs; the batch order is shuffled again. Deterministic for (seed, epoch)."""
    rng = random.Random(f"{config.seed}:{epoch}")
    order = list(range(len(groups)))
    rng.shuffle(order)
    window = max(config.megabatch * config.batch_size, 1)
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        pairs = 0
        end = start
        while end < len(order) and pairs < window:
            pairs += len(groups[order[end]].pairs)
            end += 1
        mega = sorted(order[start:end], key=lambda i: encoded[i].length)
        current: list[int] = []
        current_pairs = 0
        for index in mega:
            if current and current_pairs + len(groups[index].pairs) > config.batch_size:
                batches.append(current)
                current, current_pairs = [], 0
            current.append(index)
            current_pairs += len(groups[index].pairs)
        if current:
            batches.append(current)
        start = end
    rng.shuffle(batches)
    return batches


def collate(indices: list[int], groups: list[Group], encoded: list[Encoded], pad_id: int, multiple: int = 1):  # type: ignore[no-untyped-def]
    """Pad the batch's distinct responses to the batch's longest (rounded up to `multiple`); pairs refer
    to rows of that tensor."""
    rows: list[list[int]] = []
    chosen, rejected, margins = [], [], []
    for index in indices:
        offset = len(rows)
        rows.extend(encoded[index].input_ids)
        for pair in groups[index].pairs:
            chosen.append(offset + pair.chosen)
            rejected.append(offset + pair.rejected)
            margins.append(pair.margin)
    width = -(-max(len(r) for r in rows) // multiple) * multiple
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
    return input_ids, attention, torch.tensor(chosen), torch.tensor(rejected), torch.tensor(margins, dtype=torch.float)


def disable_dropout(model: torch.nn.Module) -> None:
    """Every dropout layer to p=0 (attention dropout included: the models pass the module's p on)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def bradley_terry_loss(
    rewards: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor
) -> torch.Tensor:
    return -F.logsigmoid(rewards[chosen] - rewards[rejected] - margin).mean()


def rewards_for(model, input_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return model(input_ids=input_ids, attention_mask=attention).logits.squeeze(-1)


ProgressCallback = Callable[[dict[str, Any]], None]


def train(
    *,
    config: TrainConfig,
    train_groups: list[Group],
    output_dir: Path,
    on_progress: ProgressCallback | None = None,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Train and save a checkpoint loadable with AutoModelForSequenceClassification.from_pretrained.

    Resumes from `output_dir/checkpoint` when present. `stop_after_steps` ends the run early (used to
    simulate an interrupted worker in tests). Returns the training summary (steps, losses, pairs/s).
    """
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    checkpoint = output_dir / "checkpoint"
    resuming = (checkpoint / STATE_FILE).is_file()
    finished = output_dir / "model" / SUMMARY_FILE
    if not resuming and finished.is_file():
        # A worker died after saving the final model but before its run was marked done: nothing to redo.
        return json.loads(finished.read_text())
    model, tokenizer = load_backbone(str(checkpoint) if resuming else config.base_model, seed=config.seed)
    if not config.dropout:
        disable_dropout(model)
    encoded = encode_groups(train_groups, tokenizer, config.max_length)
    plans = [plan_batches(train_groups, encoded, config, epoch) for epoch in range(config.epochs)]
    # Every process must take the same number of steps (DDP averages gradients each step): with several
    # processes, the last few batches that do not divide evenly are left out of the epoch.
    total_steps = sum(len(p) // accelerator.num_processes for p in plans)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
    )  # one fused kernel per step (CPU and CUDA)
    warmup = int(total_steps * config.warmup_ratio)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)  # as TRL / HF Trainer
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    state = {"step": 0, "losses": [], "pairs": 0, "seconds": 0.0}
    if resuming:
        saved = torch.load(checkpoint / STATE_FILE, weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["state"]
        logger.info("reward model training resumed", extra={"step": state["step"]})
    pad_id = tokenizer.pad_token_id
    model.train()
    step = 0
    for epoch, batches in enumerate(plans):
        usable = len(batches) - len(batches) % accelerator.num_processes
        mine = batches[:usable][accelerator.process_index :: accelerator.num_processes]
        for indices in mine:
            step += 1
            if step <= state["step"]:
                continue  # done before the interruption
            started = time.perf_counter()
            input_ids, attention, chosen, rejected, margin = collate(
                indices, train_groups, encoded, pad_id, config.pad_to_multiple_of
            )
            input_ids, attention = input_ids.to(accelerator.device), attention.to(accelerator.device)
            rewards = rewards_for(model, input_ids, attention)
            loss = bradley_terry_loss(
                rewards, chosen.to(rewards.device), rejected.to(rewards.device), margin.to(rewards.device)
            )
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            state["step"] = step
            state["pairs"] += len(chosen)
            state["seconds"] += time.perf_counter() - started
            state["losses"].append(round(float(loss.detach()), 5))
            if on_progress and accelerator.is_main_process:
                on_progress(
                    {
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": epoch,
                        "loss": state["losses"][-1],
                        "pairs_per_second": state["pairs"] / state["seconds"] if state["seconds"] else None,
                    }
                )
            if step % config.checkpoint_every == 0:
                _save(accelerator, model, tokenizer, optimizer, scheduler, state, checkpoint)
            if stop_after_steps is not None and step >= stop_after_steps:
                _save(accelerator, model, tokenizer, optimizer, scheduler, state, checkpoint)
                return {**state, "total_steps": total_steps, "interrupted": True}
    accelerator.wait_for_everyone()
    summary = {
        **state,
        "total_steps": total_steps,
        "pairs_per_second": state["pairs"] / state["seconds"] if state["seconds"] else None,
        "interrupted": False,
    }
    if accelerator.is_main_process:
        final = output_dir / "model"
        accelerator.unwrap_model(model).save_pretrained(final)
        tokenizer.save_pretrained(final)
        (final / "training_config.json").write_text(json.dumps(config.as_dict(), indent=2))
        # Written last: its presence says the final model is complete (see the start of this function).
        (final / SUMMARY_FILE).write_text(json.dumps(summary))
        shutil.rmtree(checkpoint, ignore_errors=True)
    return summary


def _save(accelerator, model, tokenizer, optimizer, scheduler, state, checkpoint: Path) -> None:  # type: ignore[no-untyped-def]
    """Write the checkpoint to a temporary folder and swap it in, so a kill never leaves half of one."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    tmp = checkpoint.with_name("checkpoint.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.unwrap_model(model).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "state": state,
        },
        tmp / STATE_FILE,
    )
    shutil.rmtree(checkpoint, ignore_errors=True)
    tmp.rename(checkpoint)


@torch.inference_mode()
def score_groups(model, tokenizer, groups: list[Group], *, max_length: int, batch_size: int = 64) -> list[list[float]]:  # type: ignore[no-untyped-def]
    """Rewards of every response of every group (length-sorted batches for speed)."""
    model.eval()
    encoded = encode_groups(groups, tokenizer, max_length)
    flat = [(g, r, ids) for g, enc in enumerate(encoded) for r, ids in enumerate(enc.input_ids)]
    flat.sort(key=lambda x: len(x[2]))
    out = [[0.0] * len(g.responses) for g in groups]
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        width = max(len(ids) for _, _, ids in chunk)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (_, _, ids) in enumerate(chunk):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
        rewards = rewards_for(model, input_ids.to(model.device), attention.to(model.device)).float().cpu().tolist()
        for (g, r, _), reward in zip(chunk, rewards, strict=True):
            out[g][r] = reward
    return out
