#!/usr/bin/env bash
# Every benchmark of bench/RESULTS.md, one after another on an otherwise idle machine
# (about 45 min on 2 cores), each writing its CSV under bench/results/ and RESULTS.md.
# Needs the bench extra (SB3 + SuperSuit, the peer): .venv/bin/pip install -e ".[bench]"
#   bench/run.sh            # everything
#   bench/run.sh ppo eval   # some parts: ppo eval methods methods-table4 layouts workflow fast cost
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(ppo eval methods methods-table4 layouts workflow fast cost)
RUNTIME=(--config config/paper.yaml --runtime-from config/config.yaml)
for part in "${parts[@]}"; do
  case "$part" in
    ppo)  # PPO at the paper's settings, shared + independent, the SB3 + SuperSuit peer
      $PY bench/throughput.py "${RUNTIME[@]}" --envs pursuit waterworld multiwalker --methods ppo \
        --raw-steps 3000 --eval-episodes 32 --train-iterations 2 --peer --label paper-ppo \
        --note "PPO with the paper's settings (batch 5000, 10 epochs of 500, [400,300]); the laptop runtime of config/config.yaml (2 cores: auto = 2 env-runner processes x 8 envs, learner on both cores); SB3 + SuperSuit PPO with the same network, batch and epochs, 2 env copies, in-process and in 2 subprocesses (the faster is the comparison). Evaluation: 32 plays of a checkpoint after 3 iterations. Idle machine apart from this benchmark." ;;
    eval)  # evaluation long enough for the 2-worker start-up (~5 s) to be paid back
      $PY bench/throughput.py "${RUNTIME[@]}" --envs pursuit waterworld multiwalker --methods ppo \
        --no-independent --raw-steps 3000 --eval-episodes pursuit=96 waterworld=96 multiwalker=1000 \
        --train-iterations 1 --label paper-ppo-eval \
        --note "Evaluation of a PPO checkpoint (paper settings, 2 iterations) with 1 and 2 worker processes, 8 envs each; pursuit and waterworld plays chosen so one worker plays about a minute and a half (500-step plays), multiwalker the paper's 1000 plays (short plays of a barely trained policy). Idle machine apart from this benchmark." ;;
    methods)  # the off-policy methods at the paper's replay settings
      $PY bench/throughput.py "${RUNTIME[@]}" --envs pursuit waterworld multiwalker \
        --methods sac td3 ddpg apex_ddpg dqn rainbow apex_dqn --raw-steps 2000 --eval-episodes 0 \
        --train-iterations 1 --iteration-steps 1000 --label paper-methods \
        --note "The off-policy methods at the paper's settings (replay settings of config/paper.yaml; each timed iteration 1000 env steps after a warm-up iteration that fills learning_starts); the laptop runtime of config/config.yaml (2 cores: auto = 2 env-runner processes x 8 envs, so the Ape-X methods have 2 actors). Idle machine apart from this benchmark." ;;
    methods-table4)  # the same with Table 4's sampling round (64 envs: 8 runners x 8 envs),
      # on 2 runners x 32 envs: RLlib (2.60 as 0.9) updates once per sampling round, so the
      # round size sets the updates per env step; this is the paper's ratio
      $PY bench/throughput.py "${RUNTIME[@]}" --runtime num_envs_per_env_runner=32 \
        --envs pursuit waterworld multiwalker \
        --methods sac td3 ddpg apex_ddpg dqn rainbow apex_dqn --raw-steps 2000 --eval-episodes 0 \
        --train-iterations 1 --iteration-steps 2000 --label paper-methods-table4-rounds \
        --note "As paper-methods, but each sampling round has Table 4's 64 envs (2 env-runner processes x 32 envs on the 2 cores, instead of 8 x 8), so the updates per env step are the paper's (one update of train_batch_size per round of rollout_fragment_length x 64 env steps); each timed iteration 2000 env steps. Idle machine apart from this benchmark." ;;
    layouts)  # one 2-core job vs two 1-core jobs
      $PY bench/layouts.py --config config/paper.yaml --envs pursuit waterworld multiwalker \
        --envs-per-runner 8 --label layouts \
        --note "PPO at the paper's settings (batch 5000, 10 epochs of 500, [400,300]), shared; idle machine apart from this benchmark." ;;
    workflow)  # snakemake -n and a no-op rerun of the paper grid
      $PY bench/workflow.py --repeats 3 ;;
    fast)  # psmarl's fast envs against PettingZoo's: stepping, sampling, PPO training
      $PY bench/fast_envs.py "${RUNTIME[@]}" --envs pursuit waterworld multiwalker \
        --seconds 4 --rounds 3 --sample-steps 3000 --methods ppo --train-iterations 2 \
        --label fast-envs --note "PettingZoo's backend and psmarl's fast one, side by side in one run, paper presets (see bench/fast_envs.py). Idle machine apart from this benchmark." ;;
    cost)  # the paper grid's compute before and after the fast envs (needs fast's CSV)
      $PY bench/grid_cost.py fast-envs ;;
    *) echo "unknown part: $part (ppo eval methods methods-table4 layouts workflow fast cost)" >&2; exit 2 ;;
  esac
done
