"""The JAX causal LM with LoRA (engine/lm): python -m launch.lm --mode=train --config configs/lm.py:PRESET ...

Presets:
  default        your own JSONL examples: --config.data.train=... --config.data.valid=... [--config.data.test=...]
  ml100k-yesno   TALLRec's movie task on MovieLens-100K (engine/lm/tasks.py): 256 training examples, Yes/No,
                 128 validation and 128 test users, selected on validation AUC
  tiny           ml100k-yesno with a handful of examples and steps (tests, smoke runs)
  ml100k-yesno-gpu  the same task with TALLRec's settings (its finetune_rec.py and shell/instruct_7B.sh): Alpaca
                 template, loss on the whole prompt, 10 rated movies, LoRA r 8 / alpha 16 / dropout 0.05 on q/v,
                 AdamW 1e-4, 20 warm-up steps then linear decay, batch 128 in 2 micro-batches, up to 200 epochs,
                 validation AUC every 10 steps, patience 10, prompts up to 512 tokens; bfloat16 weights and
                 compute, 1,000 validation and test users. For a 7B base on a GPU:
                 --config.model.dir=<Llama/Qwen2 directory> (and --config.mesh.model=N over N devices)

Sequential LoRA stages (TLRec's curriculum): `stages` is a tuple of dicts of overrides, e.g.
  stages=({"name": "stage1", "data.train": "a.jsonl"}, {"name": "stage2", "data.train": "b.jsonl"});
each stage trains in <workdir>/<name> starting from the previous stage's best adapter (lora.init_from).
"""

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.progress = True

    c.model = ml_collections.ConfigDict()
    c.model.dir = ""               # a Hugging Face Llama/Qwen2 directory; '' -> converted SmolLM2-135M-Instruct
    c.model.dtype = "float32"      # weights in memory (bfloat16 halves it for large models)

    c.mesh = ml_collections.ConfigDict()
    c.mesh.model = 1               # devices each weight is split over (tensor parallel); the rest split the batch

    c.lora = ml_collections.ConfigDict()
    c.lora.rank = 8
    c.lora.alpha = 16.0
    c.lora.dropout = 0.05
    c.lora.targets = ("q_proj", "v_proj")  # any of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj
    c.lora.init_from = ""          # a PEFT adapter dir or a LoRA run dir: continue from its adapter

    c.data = ml_collections.ConfigDict()
    c.data.train = ""              # JSONL: {"instruction", "input", "output"} or {"prompt", "answer"} per line
    c.data.valid = ""
    c.data.test = ""
    c.data.template = "chat"       # chat (the model's chat template), alpaca (TALLRec's), raw
    c.data.train_on_inputs = False  # True: the prompt tokens carry loss too (TALLRec's option)
    c.data.verbalizer = ("Yes", "No")  # answers scored by one forward pass; () for free-text answers (metric loss)
    c.data.task = ""               # build the data instead of reading files: ml100k_yesno
    c.data.root = ""               # task data folder; '' -> $SEQREC_DATA/ml-100k -> ../shared/data/ml-100k
    c.data.num_train = 256
    c.data.num_valid = 256
    c.data.num_test = 256
    c.data.history = 10            # rated movies shown per prompt
    c.data.seed = 0                # the task's examples (fixed across model seeds)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 16
    c.train.grad_accum = 1         # micro-batches per step (batch_size / grad_accum rows each)
    c.train.learning_rate = 3e-4
    c.train.schedule = "constant"  # constant, cosine, wsd, linear (engine.train.experiment.make_schedule)
    c.train.warmup_steps = 8
    c.train.decay_steps = 0
    c.train.weight_decay = 0.0
    c.train.adam_b2 = 0.999
    c.train.grad_clip = 1.0
    c.train.num_epochs = 3
    c.train.max_steps = 0          # > 0 overrides num_epochs
    c.train.eval_every = 0         # 0 -> once per epoch
    c.train.patience = 3           # validations without improvement before stopping
    c.train.log_every = 4
    c.train.keep_last = 1
    c.train.compute_dtype = "float32"  # bfloat16: base and adapter cast for the forward/backward pass
    c.train.length_buckets = (128, 192, 256, 384, 512)

    c.eval = ml_collections.ConfigDict()
    c.eval.metric = "auc"          # auc, accuracy (verbalizer) or loss (answer tokens' NLL, lower is better)
    c.eval.batch_size = 16

    c.stages = ()

    if preset in ("ml100k-yesno", "tiny"):
        # Sized for a shared 2-core CPU: 5 rated movies per prompt (about 150 tokens with the chat template),
        # one epoch of the 256 examples in 32 steps of 8, validation on 128 other users every 16 steps.
        c.data.task = "ml100k_yesno"
        c.data.history, c.data.num_valid, c.data.num_test = 5, 128, 128
        c.train.num_epochs, c.train.batch_size, c.train.learning_rate, c.train.warmup_steps = 1, 8, 1e-3, 2
        c.train.eval_every = 16
        c.train.length_buckets = (128, 160, 192, 256)
    if preset == "ml100k-yesno-gpu":
        c.data.task, c.data.template, c.data.train_on_inputs = "ml100k_yesno", "alpaca", True
        c.data.num_valid = c.data.num_test = 1000
        c.lora.rank, c.lora.alpha, c.lora.dropout, c.lora.targets = 8, 16.0, 0.05, ("q_proj", "v_proj")
        c.model.dtype = c.train.compute_dtype = "bfloat16"
        c.train.batch_size, c.train.grad_accum, c.train.num_epochs = 128, 2, 200
        c.train.learning_rate, c.train.warmup_steps, c.train.schedule = 1e-4, 20, "linear"
        c.train.eval_every, c.train.patience, c.train.log_every = 10, 10, 2
        c.train.length_buckets = (128, 192, 256, 384, 512)
        c.eval.batch_size = 32
    if preset == "tiny":
        c.data.num_train, c.data.num_valid, c.data.num_test, c.data.history = 8, 8, 8, 3
        c.train.batch_size, c.train.grad_accum, c.train.max_steps, c.train.eval_every = 4, 2, 4, 2
        c.train.num_epochs = 4
        c.train.warmup_steps, c.train.log_every, c.eval.batch_size = 0, 1, 4
    elif preset not in ("default", "ml100k-yesno", "ml100k-yesno-gpu"):
        raise ValueError(f"unknown preset {preset!r}; known: default, ml100k-yesno, ml100k-yesno-gpu, tiny")
    c.preset = preset
    return c
