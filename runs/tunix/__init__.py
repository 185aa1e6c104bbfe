"""Real Tunix training: LoRA SFT with Tunix's `PeftTrainer` on CPU JAX.

Only `tiny`, `data` and `families` may be imported by the web or worker processes (numpy at most);
`training`, `adapters` and `child` import JAX, Flax, Qwix and Tunix and run in the trainer's
child process (`python -m runs.tunix.child`), so that JAX never loads into Django, a cancel can
end the process, and its memory returns to the system when the run ends.
"""

# What a Tunix run writes into its output directory (docs/tunix.md draws it).
CHECKPOINTS_DIRNAME = "checkpoints"
TENSORBOARD_DIRNAME = "tensorboard"
FINAL_MODEL_DIRNAME = "final_model"
MERGED_MODEL_DIRNAME = "merged_model"
