#!/usr/bin/env bash
# PQN on CartPole-v1 at budgets of 51k-82k env steps (the preset: 153.6k): the sweeps behind
# "No cheaper CartPole preset yet" in rljax/agents/pqn.py. Each sweep starts from the
# CartPole-v1 preset (reward scale 0.1, epsilon decay over a fifth of the schedule, lr
# annealed to zero over the budget) with a 2 x 64 LayerNorm network unless it says
# otherwise; the counts are the seeds whose final 100-episode greedy evaluation is >= 475.
#
#   bash experiments/pqn_cartpole_budget_search.sh results/pqn_budget_search
#
# (about an hour on a loaded 2-core CPU, 2026-12-07); it ends by printing the counts.
set -euo pipefail
out=${1:-results/pqn_budget_search}
sweep() { name=$1; shift; rljax sweep pqn --env CartPole-v1 --no-progress --out "$out/$name" --overwrite "$@"; }
net=(--set hidden_sizes=64,64)

# 32 envs x 16 steps, 2 epochs of 2 minibatches, 51.2k steps (seeds 0-15): 0-5/16
sweep e32x16_2x2_51k --seeds 16 --total-steps 51200 --eval-every 10240 "${net[@]}" \
  --set num_envs=32 --set rollout_length=16 --set num_epochs=2 --set num_minibatches=2 --set schedule_steps=51200 \
  --grid learning_rate=1e-3,3e-3 --grid epsilon_end=0.1,0.3 --grid q_lambda=0.65,0.9
# 32 x 16, 4 epochs of 4 minibatches, 61.4k (seeds 0-15): 7-11/16, then 7-14/16
sweep e32x16_4x4_61k_a --seeds 16 --total-steps 61440 --eval-every 12288 "${net[@]}" \
  --set num_envs=32 --set rollout_length=16 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=61440 \
  --set q_lambda=0.9 --grid learning_rate=1e-3,3e-3 --grid epsilon_end=0.1,0.3
sweep e32x16_4x4_61k_b --seeds 16 --total-steps 61440 --eval-every 12288 "${net[@]}" \
  --set num_envs=32 --set rollout_length=16 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=61440 \
  --grid q_lambda=0.9,0.95 --grid learning_rate=2e-3,5e-3 --grid epsilon_end=0.3,0.5
# 64 x 8, 4 x 4, 61.4k (seeds 0-15): 7-14/16
sweep e64x8_4x4_61k --seeds 16 --total-steps 61440 --eval-every 12288 "${net[@]}" \
  --set num_envs=64 --set rollout_length=8 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=61440 \
  --grid q_lambda=0.9,0.95 --grid learning_rate=1e-3,2e-3,4e-3 --grid epsilon_end=0.3,0.4
# 64 x 8, 4 x 4, 81.9k (seeds 0-31): 8-14 of each 16
sweep e64x8_4x4_82k --seeds 32 --total-steps 81920 --eval-every 16384 "${net[@]}" \
  --set num_envs=64 --set rollout_length=8 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=81920 \
  --grid q_lambda=0.9,0.95 --grid learning_rate=1e-3,2e-3 --grid epsilon_end=0.3,0.4
# 32 x 8 with 2 x 2 (3-13), 128 x 4 with 4 x 4 (5-11), one 256-unit layer (3-13); 61.4k, seeds 0-31
sweep e32x8_2x2_61k --seeds 32 --total-steps 61440 --eval-every 12288 "${net[@]}" \
  --set num_envs=32 --set rollout_length=8 --set num_epochs=2 --set num_minibatches=2 --set schedule_steps=61440 \
  --set epsilon_end=0.3 --grid q_lambda=0.9,0.95 --grid learning_rate=1e-3,2e-3,4e-3
sweep e128x4_4x4_61k --seeds 32 --total-steps 61440 --eval-every 12288 "${net[@]}" \
  --set num_envs=128 --set rollout_length=4 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=61440 \
  --set epsilon_end=0.3 --grid q_lambda=0.9,0.95 --grid learning_rate=1e-3,2e-3
sweep e64x8_4x4_61k_256 --seeds 32 --total-steps 61440 --eval-every 12288 --set hidden_sizes=256 \
  --set num_envs=64 --set rollout_length=8 --set num_epochs=4 --set num_minibatches=4 --set schedule_steps=61440 \
  --set epsilon_end=0.3 --grid q_lambda=0.9,0.95 --grid learning_rate=1e-3,2e-3

# Solved counts per configuration, seeds 0-15 and 16-31.
python - "$out" <<'EOF'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "*", "summary.json"))):
    s = json.load(open(path))
    counts = [sum(r >= 475 for r, seed in zip(s["final_eval_return"], s["seeds"]) if lo <= seed < lo + 16) for lo in (0, 16)]
    print(os.path.relpath(os.path.dirname(path), sys.argv[1]), "seeds 0-15:", counts[0], "16-31:", counts[1])
EOF
