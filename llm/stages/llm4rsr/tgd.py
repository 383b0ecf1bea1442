"""Stage `tgd` (§3.3): instruction-prompt optimisation with textual gradient descent.

Per iteration t = 1..T, for every IP of the beam (initially the initial IP):
- forward: the LLM selects relevant inputs on a batch of N samples of D_tr; P/R/F1 per sample; errors collected
  (E_irre: an irrelevant input selected; E_rele: a relevant input missed; a failed answer is an error too);
- backward: Prompts 1-2 infer the flaws of profile and plan from the errors, Prompts 3-4 refine them; the
  original and the refined profile and plan are paraphrased (tgd.num_paraphrases each), giving the candidates
  original, refined, paraphrase(original), paraphrase(refined);
- memory: for tgd.memory_edits error cases of the beam's first IP, Prompt 5 infers the flaws (missing, incorrect,
  redundant) of the descriptions of the two items involved, and Prompt 6 applies them (insert, modify, remove)
  to the shared memory. The memory is not paraphrased (the paper: it holds facts).
Then UCB (Algorithm 1, llm.stages.llm4rsr.ucb) over all candidates keeps the top n as the next beam, and the beam
is scored on D_te. After T iterations the IP (with the memory of its iteration) with the best D_te F1 is the
result (iteration 0 = the initial IP with the initial memory).

Note: D_te both picks the final IP and reports its F1, as in the paper, so that F1 is optimistic; the static
(iteration 0) row is not selected on anything.

Artifacts: history.jsonl (every candidate, payoff, UCB pick, beam, D_te score and memory edit), final_prompt.json,
memory.jsonl (the memory that goes with the final IP), dte_f1.png, ablation.json (Table 4 shape, with
tgd.ablation).
"""

from __future__ import annotations

import json

import numpy as np

from engine.run_dir import write_json_atomic, write_text_atomic
from llm.prompts.llm4rsr import (
    EDIT_MEMORY,
    MEMORY_FLAWS,
    PARAPHRASE,
    PLAN_FLAWS,
    PROFILE_FLAWS,
    REFINE_PLAN,
    REFINE_PROFILE,
    template_ids,
)
from llm.stages.llm4rsr.common import dataset_key, item_names, item_type, load_data, plot_two_lines
from llm.stages.llm4rsr.prompt import InstructionPrompt, Items, initial_prompt, prf, select
from llm.stages.llm4rsr.tgd_data import Sample
from llm.stages.llm4rsr.ucb import ucb_select
from llm.stages.stage import run_stage
from llm.stages.structured import Invalid, ask_json, meaningful

NAME = "tgd"
OUTPUTS = ("history.jsonl", "final_prompt.json", "memory.jsonl", "dte_f1.png")


def _text_schema(field: str) -> dict:
    return {"type": "object", "required": [field], "properties": {field: {"type": "string", "minLength": 1}}}


FLAWS_SCHEMA = {"type": "object", "required": ["flaws"],
                "properties": {"flaws": {"type": "array", "items": {"type": "string"}}}}
MEMORY_FLAWS_SCHEMA = {"type": "object", "required": ["flaws"], "properties": {"flaws": {"type": "array", "items": {
    "type": "object", "required": ["item", "missing", "incorrect", "redundant"],
    "properties": {"item": {"type": "integer", "minimum": 1, "maximum": 2}, "missing": {"type": "string"},
                   "incorrect": {"type": "string"}, "redundant": {"type": "string"}}}}}}


def _text(field: str):
    def validate(answer) -> str:
        text = " ".join(str(answer.get(field, "")).split()) if isinstance(answer, dict) else ""
        if not meaningful(text, 3):
            raise Invalid(f"no {field} in the answer: {text!r}", "empty")
        return text
    return validate


def _flaws(answer) -> list[str]:
    flaws = [" ".join(str(f).split()) for f in answer.get("flaws", [])] if isinstance(answer, dict) else []
    flaws = [f for f in flaws if meaningful(f)]
    if not flaws:
        raise Invalid("no flaws named", "empty")
    return flaws


def _memory_flaws(answer) -> list[dict]:
    rows = answer.get("flaws") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        raise Invalid("'flaws' must be a list", "not_list")
    out = []
    for row in rows:
        if not isinstance(row, dict) or row.get("item") not in (1, 2):
            raise Invalid(f"flaw names no item 1 or 2: {row!r}", "out_of_range")
        out.append({k: " ".join(str(row.get(k, "")).split()) for k in ("missing", "incorrect", "redundant")}
                   | {"item": row["item"]})
    return out


MEMORY_OPS = (("insert", "missing"), ("modify", "incorrect"), ("remove", "redundant"))


def memory_ops(flaw: dict) -> list[str]:
    """Prompt 5's flaws -> Prompt 6's edits: missing -> insert, incorrect -> modify, redundant -> remove."""
    return [op for op, field in MEMORY_OPS if meaningful(flaw.get(field, ""))]


class TGD:
    """One TGD run; every LLM call goes through ctx (cached), every random draw through one seeded generator."""

    def __init__(self, ctx, config, items: Items, train: list[Sample], test: list[Sample], history):
        self.ctx, self.config, self.t = ctx, config, config.tgd
        self.items, self.train, self.test = items, train, test
        self.rng = np.random.default_rng([int(config.seed), 433])
        self.history = history
        self.kind = items.item_type

    # ---- helpers -----------------------------------------------------------------------------------------------
    def log(self, **record) -> None:
        self.history.write(json.dumps(record, ensure_ascii=False) + "\n")

    def ask(self, prompts, schema, validate, prefix: str, first_attempt: int = 0, max_tokens: int | None = None):
        return ask_json(self.ctx, prompts, schema=schema, validate=validate,
                        max_tokens=int(max_tokens or self.t.max_tokens), max_attempts=int(self.config.llm.max_attempts),
                        retry_temperature=float(self.config.llm.retry_temperature), failure_prefix=prefix,
                        first_attempt=first_attempt)

    def batch(self, size: int | None = None) -> list[Sample]:
        size = min(int(size or self.t.batch_size), len(self.train))
        return [self.train[i] for i in self.rng.choice(len(self.train), size, replace=False)]

    def score(self, ip: InstructionPrompt, samples: list[Sample], items: Items | None = None, **switches):
        """(mean P, R, F1, per-sample outcomes) of ip on samples."""
        got = select(self.ctx, ip, [(s.inputs, s.target) for s in samples], items or self.items, self.config,
                     **switches)
        scores = np.array([prf(o.value if o.ok else None, s.relevant) for o, s in zip(got, samples)])
        return (*scores.mean(axis=0).tolist(), got) if len(samples) else (0.0, 0.0, 0.0, got)

    def error_cases(self, samples: list[Sample], outcomes) -> list[dict]:
        cases = []
        for s, o in zip(samples, outcomes):
            if not o.ok:
                cases.append({"kind": "failed", "sample": s.id, "input": None, "target": s.target,
                              "line": f"no valid answer for target '{self.items.names[s.target]}'"})
                continue
            for pos, item in enumerate(s.inputs, 1):
                chosen, relevant = pos in o.value, pos in s.relevant
                if chosen and not relevant:
                    cases.append({"kind": "irrelevant_selected", "sample": s.id, "input": item, "target": s.target,
                                  "line": f"input '{self.items.names[item]}' / target '{self.items.names[s.target]}'"
                                          f": irrelevant but selected"})
                elif relevant and not chosen:
                    cases.append({"kind": "relevant_missed", "sample": s.id, "input": item, "target": s.target,
                                  "line": f"input '{self.items.names[item]}' / target '{self.items.names[s.target]}'"
                                          f": relevant but missed"})
        return cases

    # ---- backward ----------------------------------------------------------------------------------------------
    def refine(self, ip: InstructionPrompt, errors: list[dict]) -> InstructionPrompt | None:
        shown = [e["line"] for e in errors[: int(self.t.max_errors)]]
        if not shown:
            return None
        lines = "\n".join(f"- {line}" for line in shown)
        common = {"item_type": self.kind, "errors": lines, "max_flaws": int(self.t.max_flaws)}
        flaws = self.ask([PROFILE_FLAWS.render(profile=ip.profile, **common), PLAN_FLAWS.render(plan=ip.plan, **common)],
                         FLAWS_SCHEMA, _flaws, "backward_flaws_")
        profile_flaws = flaws[0].value if flaws[0].ok else []
        plan_flaws = flaws[1].value if flaws[1].ok else []
        prompts, which = [], []
        if profile_flaws:
            prompts.append(REFINE_PROFILE.render(item_type=self.kind, profile=ip.profile, max_words=int(self.t.max_words),
                                                 flaws="\n".join(f"- {f}" for f in profile_flaws)))
            which.append("profile")
        if plan_flaws:
            prompts.append(REFINE_PLAN.render(item_type=self.kind, plan=ip.plan, max_words=int(self.t.max_words),
                                              flaws="\n".join(f"- {f}" for f in plan_flaws)))
            which.append("plan")
        refined = {"profile": ip.profile, "plan": ip.plan}
        if prompts:
            schemas = {"profile": _text_schema("profile"), "plan": _text_schema("plan")}
            for field, outcome in zip(which, [self.ask([p], schemas[f], _text(f), "backward_refine_")[0]
                                              for p, f in zip(prompts, which)]):
                if outcome.ok:
                    refined[field] = outcome.value
        self.log(type="backward", parent=ip.key, profile_flaws=profile_flaws, plan_flaws=plan_flaws, errors=shown)
        if refined["profile"] == ip.profile and refined["plan"] == ip.plan:
            return None
        return InstructionPrompt(refined["profile"], refined["plan"], "refined")

    def paraphrases(self, ip: InstructionPrompt) -> list[InstructionPrompt]:
        out = []
        for k in range(int(self.t.num_paraphrases)):
            first = k * int(self.config.llm.max_attempts)  # paraphrase k: its own (sampled for k > 0) attempts
            got = [self.ask([PARAPHRASE.render(what=what, text=text)], _text_schema("text"), _text("text"),
                            "paraphrase_", first_attempt=first)[0]
                   for what, text in (("profile", ip.profile), ("plan", ip.plan))]
            if all(o.ok for o in got):
                out.append(InstructionPrompt(got[0].value, got[1].value, f"paraphrase({ip.origin})"))
        return out

    def edit_memory(self, errors: list[dict], iteration: int) -> dict[int, str]:
        memory = dict(self.items.memory)
        cases = [e for e in errors if e["input"] is not None][: int(self.t.memory_edits)]
        if not cases:
            return memory
        prompts = []
        for e in cases:
            pair = (e["input"], e["target"])
            descriptions = "\n".join(f"{i}. {self.items.names[v]}: {memory.get(v, '')}" for i, v in enumerate(pair, 1))
            error = e["line"].split(": ", 1)[-1] + f" (input: {self.items.names[pair[0]]}, target: " \
                f"{self.items.names[pair[1]]})"
            prompts.append(MEMORY_FLAWS.render(item_type=self.kind, error=error, descriptions=descriptions))
        flaws = self.ask(prompts, MEMORY_FLAWS_SCHEMA, _memory_flaws, "memory_flaws_")
        edits = []
        for e, outcome in zip(cases, flaws):
            for flaw in (outcome.value or []) if outcome.ok else []:
                item = (e["input"], e["target"])[flaw["item"] - 1]
                ops = memory_ops(flaw)
                if ops and item not in {x["item"] for x in edits}:
                    edits.append({"item": item, "ops": ops, "flaws": flaw})
        if edits:
            got = self.ask([EDIT_MEMORY.render(item_type=self.kind, description=memory.get(x["item"], ""),
                                               max_words=int(self.config.memory.max_words),
                                               **{k: x["flaws"][k] if meaningful(x["flaws"][k]) else "none"
                                                  for k in ("missing", "incorrect", "redundant")})
                            for x in edits], _text_schema("description"), _text("description"), "memory_edit_")
            for x, outcome in zip(edits, got):
                before = memory.get(x["item"], "")
                if outcome.ok:
                    memory[x["item"]] = outcome.value
                self.log(type="memory_edit", iteration=iteration, item=x["item"], ops=x["ops"], flaws=x["flaws"],
                         before=before, after=memory[x["item"]], applied=outcome.ok,
                         changed=memory[x["item"]] != before)
        return memory

    # ---- the loop ----------------------------------------------------------------------------------------------
    def run(self) -> dict:
        initial = initial_prompt(self.kind)
        memories = {0: dict(self.items.memory)}
        p, r, f1, _ = self.score(initial, self.test)
        dte = [{"iteration": 0, "key": initial.key, "precision": p, "recall": r, "f1": f1}]
        self.log(type="candidate", iteration=0, **initial.to_dict())
        self.log(type="dte", **dte[0])
        prompts = {initial.key: initial}
        beam = [initial]
        for it in range(1, int(self.t.iterations) + 1):
            candidates: dict[str, InstructionPrompt] = {}
            memory_errors = []
            for b, ip in enumerate(beam):
                batch = self.batch()
                p, r, f1, outcomes = self.score(ip, batch)
                errors = self.error_cases(batch, outcomes)
                self.log(type="forward", iteration=it, key=ip.key, batch=[s.id for s in batch], precision=p,
                         recall=r, f1=f1, errors=len(errors))
                if b == 0:
                    memory_errors = errors
                refined = self.refine(ip, errors)
                for cand in [ip, *([refined] if refined else [])]:
                    for c in [cand, *self.paraphrases(cand)]:
                        candidates.setdefault(c.key, c)
            self.items = self.items.with_memory(self.edit_memory(memory_errors, it))
            memories[it] = dict(self.items.memory)
            pool = list(candidates.values())
            for c in pool:
                prompts.setdefault(c.key, c)
                self.log(type="candidate", iteration=it, **c.to_dict())

            def payoff(i, batch, pool=pool):
                return self.score(pool[i], batch)[2]
            result = ucb_select(len(pool), payoff, self.batch, epochs=int(self.t.epochs), c=float(self.t.exploration))
            for pick in result.picks:
                self.log(type="ucb_pick", iteration=it, key=pool[pick["candidate"]].key, epoch=pick["epoch"],
                         payoff=pick["payoff"], bounds=pick["bounds"])
            beam = [pool[i] for i in result.top(int(self.t.beam))]
            self.log(type="beam", iteration=it, keys=[c.key for c in beam],
                     means={pool[i].key: s.mean for i, s in enumerate(result.stats)},
                     counts={pool[i].key: s.count for i, s in enumerate(result.stats)})
            for ip in beam:
                p, r, f1, _ = self.score(ip, self.test)
                dte.append({"iteration": it, "key": ip.key, "precision": p, "recall": r, "f1": f1})
                self.log(type="dte", **dte[-1])
        best = max(dte, key=lambda d: (d["f1"], -d["iteration"]))
        return {"dte": dte, "best": best, "prompt": prompts[best["key"]], "memory": memories[best["iteration"]],
                "initial": initial, "initial_memory": memories[0]}


def ablation(tgd: TGD, result: dict) -> dict:
    """Table 4's rows on D_te: w/o profile, plan, memory; static (initial) profile, plan, memory; full."""
    final, initial = result["prompt"], result["initial"]
    optimised = tgd.items.with_memory(result["memory"])
    static_memory = tgd.items.with_memory(result["initial_memory"])
    rows = {
        "w/o profile": (final, optimised, {"use_profile": False}),
        "static profile": (InstructionPrompt(initial.profile, final.plan), optimised, {}),
        "w/o plan": (final, optimised, {"use_plan": False}),
        "static plan": (InstructionPrompt(final.profile, initial.plan), optimised, {}),
        "w/o memory": (final, optimised, {"use_memory": False}),
        "static memory": (final, static_memory, {}),
        "LLM4RSR": (final, optimised, {}),
    }
    out = {}
    for name, (ip, items, switches) in rows.items():
        p, r, f1, _ = tgd.score(ip, tgd.test, items, **switches)
        out[name] = {"precision": p, "recall": r, "f1": f1}
    return out


def plot_dte(dte: list[dict], path) -> None:
    iterations = sorted({d["iteration"] for d in dte})
    best = [max(d["f1"] for d in dte if d["iteration"] == i) for i in iterations]
    mean = [float(np.mean([d["f1"] for d in dte if d["iteration"] == i])) for i in iterations]
    plot_two_lines(path, iterations, (best, "best IP of the beam"), (mean, "beam mean"),
                   "TGD iteration (0 = initial prompt)", "F1 on D_te")


def run(config, workdir, llm, tgd_data_result, memory_result):
    from llm.stages.llm4rsr import memory as memory_stage
    from llm.stages.llm4rsr import tgd_data

    dataset, _ = load_data(config)
    kind = item_type(config, dataset)

    def compute(ctx):
        train, test = tgd_data.load(tgd_data_result)
        items = Items(item_names(dataset), memory_stage.load(memory_result), kind)
        with open(ctx.dir / "history.jsonl", "w", encoding="utf-8") as history:
            tgd = TGD(ctx, config, items, train, test, history)
            result = tgd.run()
            table = ablation(tgd, result) if config.tgd.ablation else None
        best = result["best"]
        write_json_atomic(ctx.dir / "final_prompt.json", {**result["prompt"].to_dict(), "dte": best,
                                                          "initial": result["initial"].to_dict(),
                                                          "initial_dte": result["dte"][0]})
        write_text_atomic(ctx.dir / "memory.jsonl", "".join(
            json.dumps({"item": i, "description": d}, ensure_ascii=False) + "\n"
            for i, d in sorted(result["memory"].items())))
        if table is not None:
            write_json_atomic(ctx.dir / "ablation.json", table)
        plot_dte(result["dte"], ctx.dir / "dte_f1.png")
        ctx.notes.update(dte_f1_initial=result["dte"][0]["f1"], dte_f1_best=best["f1"])
        return {"dte_f1_initial": result["dte"][0]["f1"], "dte_f1_best": best["f1"],
                "best_iteration": best["iteration"], "ablation": table}

    inputs = {"dataset": dataset_key(dataset), "tgd_data": tgd_data_result.meta["inputs_digest"],
              "memory": memory_result.meta["inputs_digest"], "tgd": config.tgd.to_dict(), "seed": int(config.seed),
              "item_type": kind, "templates": template_ids(), "llm": memory_stage.llm_identity(config),
              "select_attempts": int(config.llm.max_attempts), "retry_temperature": float(config.llm.retry_temperature),
              "memory_max_words": int(config.memory.max_words), "version": 1}
    return run_stage(workdir, NAME, inputs, compute, OUTPUTS, llm)


def load(result) -> tuple[InstructionPrompt, dict[int, str]]:
    final = json.loads(result.path("final_prompt.json").read_text())
    with open(result.path("memory.jsonl"), encoding="utf-8") as f:
        memory = {row["item"]: row["description"] for row in map(json.loads, f)}
    return InstructionPrompt(final["profile"], final["plan"], final["origin"]), memory
