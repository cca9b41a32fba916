"""
Scaling out with Ray
====================

Cross-validation, hyperparameter sweeps and slide feature extraction can run on a Ray
cluster: every model x repeat x fold (or every slide) becomes one Ray task. This page
starts a local Ray instance with two CPUs, runs a small cross-validation on it, and
checks that the results equal those of the local backend. The same call runs on a
cluster by giving the cluster's address. Needs the ``ray`` extra
(``pip install "coxmt[ray]"``, on every node, with the same versions of coxmt, torch
and ray).
"""

# %%
# A local Ray instance
# --------------------
# ``cross_validate(..., backend="ray")`` connects to the Ray instance this process has
# started, or to ``ray_address`` (or the ``RAY_ADDRESS`` environment variable), or
# starts a local one. On a cluster: ``ray start --head`` on one node, ``ray start
# --address=HEAD:6379`` on the others, then ``ray_address="HEAD:6379"`` (or ``"auto"``
# on a node of the cluster).
import logging
import time

import ray

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
print(ray.cluster_resources().get("CPU"), "CPUs")

# %%
# The same cross-validation on two backends
# -----------------------------------------
# Each task gets one CPU (``ray_options={"num_cpus": 1}``; ``{"num_gpus": 0.25}`` shares
# a GPU between four tasks). Seeds are derived from ``random_state`` and the task's
# repeat and fold, never from the order in which tasks run, so both backends give the
# same numbers.
from coxmt import CoxMT, CoxNnet
from coxmt.data import load_demo
from coxmt.experiments import cross_validate
from coxmt.preprocessing import make_rnaseq_preprocessor

table = load_demo()
models = {"Cox-MT": CoxMT(max_epochs=30), "Cox-nnet": CoxNnet(max_epochs=30)}
common = dict(
    n_splits=3,
    n_repeats=1,
    random_state=0,
    verbose=False,
    preprocessing=make_rnaseq_preprocessor(k=None),
)

start = time.perf_counter()
on_ray = cross_validate(models, table.X, table.y, backend="ray", **common)
print(f"ray:   {time.perf_counter() - start:.1f} s")
start = time.perf_counter()
local = cross_validate(models, table.X, table.y, backend="local", **common)
print(f"local: {time.perf_counter() - start:.1f} s")

cols = ["model", "repeat", "fold", "c_index", "uno_c", "ibs"]
print(on_ray[cols].round(4))
print("identical results:", on_ray[cols].equals(local[cols]))

# %%
# With tasks this short, starting workers costs more than it saves; Ray pays off when
# the tasks take minutes (tuned networks, large cohorts, slides) and there are many
# workers. On the command line the same runs are::
#
#     coxmt cv --data cohort.csv ... --backend ray --address HEAD:6379 --out runs/brca
#     coxmt sweep --data cohort.csv ... --grid consistency_weight=0.1,1,3 --backend ray
#     coxmt wsi extract slides/ -o features/ --checkpoint vits14.safetensors --backend ray
#
# Finished tasks are written to ``--out`` as they complete (``results_dir=`` in Python),
# so rerunning the same command after a lost worker or driver resumes the run. Slides,
# checkpoints and outputs must be on a file system that every node sees.
ray.shutdown()
