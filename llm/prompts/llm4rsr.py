"""LLM4RSR's prompts (Sun et al., AAAI 2025, §3.1 and Fig. 3), as versioned templates.

The paper prints the initial profile (its Fig. 3/5 example, "You are an expert in the CD domain and good at
telling the relationships between CDs based on their key attributes and topics.") and describes the other
modules and Prompts 1-6 in words; the figure with their exact text is not in the paper's text, so the wording
here is ours, following each description. Every answer is JSON, constrained by a schema (llm.stages.structured).
Version 2 of the answer instructions names the keys in words: with a literal '{"flaws": ["..."]}' example,
SmolLM2-135M copied the "..." placeholders as its answer.
"""

from llm.prompts import PromptTemplate

# ---- memory initialisation (§3.1 iii): one description per item from its attributes ---------------------------
ITEM_MEMORY = PromptTemplate("llm4rsr/item_memory", 2, (
    "You are an expert in the {item_type} domain. Write a short, factual description of the following "
    "{item_type} from its attributes: what it is, its main topics, style and audience. Use at most "
    "{max_words} words and state only facts you are sure of.\n"
    "{item_type_cap}: {attributes}\n"
    'Answer in JSON with the key "description" (a string).'))

# ---- the initial instruction prompt (§3.1): profile and plan are optimised by TGD; restriction and example are
# fixed by hand (the paper: "the restriction and example can be manually designed") -------------------------------
INITIAL_PROFILE = PromptTemplate("llm4rsr/initial_profile", 1, (
    "You are an expert in the {item_type} domain and good at telling the relationships between {item_type}s "
    "based on their key attributes and topics."))

INITIAL_PLAN = PromptTemplate("llm4rsr/initial_plan", 1, (
    "Step 1: read the description of the target {item_type}. "
    "Step 2: for each input {item_type}, compare its description with the target's: shared topics, genres, "
    "style, creators or audience. "
    "Step 3: select the input {item_type}s that are clearly related to the target; if none is related, select "
    "none."))

RESTRICTION = PromptTemplate("llm4rsr/restriction", 1, (
    'Answer only with JSON of the form {{"relevant": [positions]}}, listing the positions (1 to {n}) of the '
    'input {item_type}s relevant to the target, or {{"relevant": []}} if none is relevant.'))

EXAMPLE = PromptTemplate("llm4rsr/example", 1, (
    "Example. Input {item_type}s: 1. A, a space adventure film. 2. B, a romantic comedy. 3. C, a sequel of the "
    'space adventure A. Target: D, a science-fiction war film in space. Answer: {{"relevant": [1, 3]}}'))

# The task itself, after profile, plan, memory, restriction and example.
TASK = PromptTemplate("llm4rsr/task", 1, (
    "Input {item_type}s:\n{inputs}\nTarget {item_type}: {target}\nWhich input {item_type}s are relevant to the "
    "target?"))

# ---- TGD backward process (§3.3, Prompts 1-6) ------------------------------------------------------------------
# Errors are shown as lines "input X / target Y: relevant but missed" or "...: irrelevant but selected".
PROFILE_FLAWS = PromptTemplate("llm4rsr/prompt1_profile_flaws", 2, (
    "An assistant selects which input {item_type}s are relevant to a target {item_type}. Its profile is:\n"
    "{profile}\nWith this profile it made these errors:\n{errors}\n"
    "List up to {max_flaws} flaws of the profile that could cause these errors. "
    'Answer in JSON with the key "flaws": a list of short sentences.'))

PLAN_FLAWS = PromptTemplate("llm4rsr/prompt2_plan_flaws", 2, (
    "An assistant selects which input {item_type}s are relevant to a target {item_type}. It follows this "
    "plan:\n{plan}\nWith this plan it made these errors:\n{errors}\n"
    "List up to {max_flaws} flaws of the plan that could cause these errors. "
    'Answer in JSON with the key "flaws": a list of short sentences.'))

REFINE_PROFILE = PromptTemplate("llm4rsr/prompt3_refine_profile", 2, (
    "This profile of an assistant that selects {item_type}s relevant to a target {item_type}:\n{profile}\n"
    "has these flaws:\n{flaws}\nWrite an improved profile that fixes the flaws, in at most {max_words} words. "
    'Answer in JSON with the key "profile" (a string).'))

REFINE_PLAN = PromptTemplate("llm4rsr/prompt4_refine_plan", 2, (
    "This plan of an assistant that selects {item_type}s relevant to a target {item_type}:\n{plan}\n"
    "has these flaws:\n{flaws}\nWrite an improved step-by-step plan that fixes the flaws, in at most "
    '{max_words} words. Answer in JSON with the key "plan" (a string).'))

MEMORY_FLAWS = PromptTemplate("llm4rsr/prompt5_memory_flaws", 2, (
    "An assistant judged whether the input {item_type} is relevant to the target {item_type} and was wrong: "
    "{error}.\nThe descriptions it used:\n{descriptions}\n"
    "For each description, say what important information is missing, what is incorrect and what is "
    "redundant (empty if nothing). "
    'Answer in JSON with the key "flaws": a list of objects with the keys "item" (1 or 2), "missing", '
    '"incorrect" and "redundant" (sentences, or "" when there is nothing to say).'))

EDIT_MEMORY = PromptTemplate("llm4rsr/prompt6_edit_memory", 2, (
    "Description of a {item_type}: {description}\nIts flaws: missing: {missing}; incorrect: {incorrect}; "
    "redundant: {redundant}.\nUpdate the description: insert the missing information, modify the incorrect "
    "part and remove the redundant part; keep it factual and at most {max_words} words. "
    'Answer in JSON with the key "description" (a string).'))

PARAPHRASE = PromptTemplate("llm4rsr/paraphrase", 2, (
    "Rewrite the following {what} of an assistant with different words but the same meaning:\n{text}\n"
    'Answer in JSON with the key "text" (a string).'))

TEMPLATES = (ITEM_MEMORY, INITIAL_PROFILE, INITIAL_PLAN, RESTRICTION, EXAMPLE, TASK, PROFILE_FLAWS, PLAN_FLAWS,
             REFINE_PROFILE, REFINE_PLAN, MEMORY_FLAWS, EDIT_MEMORY, PARAPHRASE)


def template_ids(*templates: PromptTemplate) -> list[str]:
    return [t.id for t in (templates or TEMPLATES)]
