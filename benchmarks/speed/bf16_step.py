"""Seconds per training step of CLNet's cpu model (32 pairs, 2 threads), float32 against bf16
autocast, under the oneDNN ISA cap of the environment (ONEDNN_MAX_CPU_ISA): the cost of bf16 on
a CPU without native bf16. Prints one JSON line."""
import json, os, sys, time
import torch
from cvgl_bench.plugins import get_host
from cvgl_bench.train.losses import InfoNCE

torch.set_num_threads(2)
host = get_host()
method = host.methods.get("clnet").load()
hp = method.hparams("cpu", host.splits.get("synth_cvact_train"))
out = {"isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "native"), "capability": torch.backends.cpu.get_cpu_capability()}
g = torch.Generator().manual_seed(0)
q = torch.rand(32, 3, *hp["image_size"]["ground"], generator=g)
r = torch.rand(32, 3, *hp["image_size"]["satellite"], generator=g)
for amp in ("fp32", "bf16"):
    torch.manual_seed(0)
    model = method.build_model(hp)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = InfoNCE(0.1)
    times = []
    for step in range(int(sys.argv[1]) if len(sys.argv) > 1 else 8):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            a, b = model(q, r)
            loss = loss_fn(a, b, model.loss_scale())
        loss.backward()
        opt.step(); opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    times = sorted(times[2:])
    out[amp] = round(times[len(times) // 2], 3)
print(json.dumps(out))
