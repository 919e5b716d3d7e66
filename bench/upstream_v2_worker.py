"""acids-rave 2.3.1's own training step, one step per request (run by bench/v2_throughput.py).

Runs in upstream's virtual environment (../shared/tools/upstream-rave.sh), never imports
ravejobs, and contains none of upstream's code: it builds `rave.RAVE()` from upstream's gin
config, takes upstream's own optimizers (`configure_optimizers`) and calls upstream's
`RAVE.training_step` on random audio. Lightning's Trainer is left out so that only the step
itself is timed, as for ours.
Protocol: prints `ready`; for each line `step` on stdin runs one step and prints
`<wall s> <cpu s>`; `quit` ends.
Usage: python upstream_v2_worker.py CONFIG BATCH N_SIGNAL LEFT_RF RIGHT_RF THREADS
"""

import os
import sys
import time

import gin
import rave
import torch

config, batch, n, left, right, threads = sys.argv[1:7]
torch.set_num_threads(int(threads))
root = os.path.dirname(rave.__file__)
gin.add_config_file_search_path(root)
gin.parse_config_files_and_bindings([os.path.join(root, "configs", f"{config}.gin")],
                                    ["CHANNELS=1", f"N_SIGNAL={n}"])
torch.manual_seed(0)
model = rave.RAVE().train()
model.receptive_field.copy_(torch.tensor([int(left), int(right)]))  # as after its sanity check
gen, dis = (o["optimizer"] for o in model.configure_optimizers())
model.optimizers = lambda: (gen, dis)
model.log = lambda *a, **k: None
model.log_dict = lambda *a, **k: None
model.warmed_up = False  # phase 1
x = torch.randn(int(batch), 1, int(n), generator=torch.Generator().manual_seed(1)) * 0.1
print("ready", flush=True)
for i, line in enumerate(sys.stdin):
    if line.strip() != "step":
        break
    t0, c0 = time.perf_counter(), time.process_time()
    model.training_step(x.clone(), i)
    print(f"{time.perf_counter() - t0:.6f} {time.process_time() - c0:.6f}", flush=True)
