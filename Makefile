# wavezoom: make targets. Every target that runs Python depends on the venv stamp, so a fresh
# clone needs no manual step. Pass Hydra overrides with ARGS="key=value ...".
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NP ?= 2
NJOBS ?= 2
ARGS ?=
RECORDS ?=
comma := ,
space := $(empty) $(empty)
PROTOCOL ?= short
SEEDS ?= 0
REGS ?= basic,bn
STUDY := results/sweeps/small-quick
STUDYSHORT := results/sweeps/small-short
STUDYLONG := results/sweeps/small-long
LONG_MODELS ?= conv1d_boundary,fc_t_boundary,conv2d_boundary,conv1_5d_boundary
LONG_REGS ?= basic
LONG3D_MODELS ?= conv2_5db
LBFGS ?= 600
WIDTH ?= x2
WIDE_MODELS ?= conv2_5db,conv2_5d
WIDE_REGS ?= basic
MIRROR_MODELS ?= conv2d
# how study-mirror uses the mirror: images (fitted to the samples and their images) or fold (fitted to the
# samples folded to ys >= 0, predicting by reflection: the plain run's work); fold writes small-mirror_y-fold
MIRROR_MODE ?= images
# extra overrides of study-mirror's runs (e.g. MIRROR_ARGS='+width=x4 ++model.lr_max=1e-3'; ++ sets a key a model's config may lack) and the suffix of
# their folder (MIRROR_TAG=-conv2_5db-x4 writes small-mirror_y-fold-conv2_5db-x4), so a variant keeps its own tables
MIRROR_ARGS ?=
MIRROR_TAG ?=
MIRROR_STUDY = small-mirror_y$(if $(filter fold,$(MIRROR_MODE)),-fold)$(MIRROR_TAG)
# the cell that hull.md sets every other cell and baseline against, test sample by test sample (<model>-<reg>;
# empty: no such table); the short_cos and mirror studies default to Conv3D when they train it
HULL_REF ?=
study-short-cos: HULL_REF = conv3d-basic
study-short-cos-lbfgs: HULL_REF = $(if $(filter conv3d,$(subst $(comma), ,$(SCL_MODELS))),conv3d-basic)
study-mirror: HULL_REF = $(if $(filter conv3d,$(subst $(comma), ,$(MIRROR_MODELS))),conv3d-basic)
# study-short-cos-lbfgs's folders: small-short_cos_lbfgs for the committed 600 iterations, ..._lbfgs<N> otherwise
SCL_MODELS ?= conv2_5db,conv2_5d,conv2d,conv3d
SCL := small-short_cos_lbfgs$(if $(filter 600,$(LBFGS)),,$(LBFGS))
BOUNDARY_MODELS := fc_t_boundary,conv1d_boundary,conv1d_t_boundary,conv2d_boundary,conv1_5d_boundary
STUDY3D := results/sweeps/3d-speedup
STUDY4D := results/sweeps/4d-cost
# the paper preset's study: the slowest model first, so that two jobs end together; PAPER_ARGS / PAPER_TAG: a
# variant's overrides and folder suffix (PAPER_ARGS="'model.widths=[16,32,32,32,16,8]'" PAPER_TAG=-w6 writes
# paper-quick-w6), as a run resumes by name and a variant must not meet the default's runs
PAPER_MODELS ?= conv2_5db,fc_t
PAPER_ARGS ?=
PAPER_TAG ?=
STUDYPAPER = results/sweeps/paper-quick$(PAPER_TAG)
NEWMARK_CG := '+submodel.parent_schemes.newmark_cg={_target_:fe.newmark.Newmark,linear:cg}'
SWEEP ?= results/sweeps/small-$(PROTOCOL)

# Interpreters tried in order: $(PYTHON) if given, python3.12/3.13/python3 on PATH, then pyenv's.
PY_CANDIDATES = $(PYTHON) python3.12 python3.13 python3 \
	$(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3) \
	$(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3)
PIP_NOISE := is ignored: it is neither a file nor a directory

# Every study on the small preset starts with its data and difficulty meter ($(small_data)) and ends
# with its sweep's submodel, tables and report ($(call finish_study,<sweep>,<docs folder>)).
define small_data
	$(PY) -m pipeline.data progress=false
	$(PY) -m pipeline.baselines progress=false
endef
# RECORDS=<runs.jsonl ...>: committed runs (e.g. $(2)/runs.jsonl) that join the sweep's, when seeds are
# added on a machine without the earlier run folders.
define finish_study
	$(PY) -m pipeline.submodel target=$(1) progress=false
	-$(PY) -m pipeline.ensemble target=$(1) progress=false  # seed ensembles; fails (ignored) when no cell has 2 seeds
	$(PY) -m pipeline.hull target=$(1) hull.out=$(2) progress=false $(if $(HULL_REF),hull.reference=$(HULL_REF))  # test eps inside / outside the training design's hull
	$(PY) -m pipeline.tables $(1) --out $(2) $(if $(RECORDS),--records $(RECORDS))
	$(PY) -m pipeline.report target=$(1) report.out=$(2) $(if $(RECORDS),'report.records=[$(subst $(space),$(comma),$(strip $(RECORDS)))]')
endef

# $(call seed_checkpoints,<checkpoint globs>,<sweep>): copy each finished run's checkpoint into the sweep's
# folder of the same name, unless one is there: a run without an L-BFGS phase is the prefix of the same
# run with it (the same Adam epochs), so the sweep resumes it instead of redoing the epochs. A run still
# training (no metrics.json yet) is skipped: its sweep would otherwise redo its remaining epochs beside it.
define seed_checkpoints
	for run in $(1); do \
	  [ -f "$$run" ] && [ -f "$$(dirname $$run)/metrics.json" ] || continue; dest=$(2)/$$(basename $$(dirname $$run)); \
	  [ -f $$dest/checkpoint.pt ] || { mkdir -p $$dest && cp $$run $$dest/; }; \
	done
endef

.PHONY: help setup data train submodel baselines ensemble report grid study study-quick study-short-cos study-mirror study-default study-quick-lbfgs study-short-cos-lbfgs study-short study-short-avg study-short-boundary study-long-boundary study-long-3d study-long-3d-lbfgs study-short-wide study-boundary study-3d study-4d study-paper tables all test test-fast test-mpi test-slurm lint bench clean

help: ## list the targets
	@echo "wavezoom targets (overrides: make <target> ARGS='key=value ...'):"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@py=""; for c in $(PY_CANDIDATES); do \
	  if command -v "$$c" >/dev/null 2>&1 && "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then py="$$c"; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: no Python >= 3.12 found (DOLFINx 0.11 needs it). Tried: $(PY_CANDIDATES)." >&2; \
	  echo "       Install one (e.g. 'pyenv install 3.12') or pass PYTHON=/path/to/python3.12." >&2; exit 1; \
	fi; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then rm -rf $(VENV); fi; \
	echo "setup: building $(VENV) with $$py ($$("$$py" --version)); torch is a large download, allow a few minutes"; \
	[ -x $(PY) ] || "$$py" -m venv $(VENV); \
	{ $(PY) -m pip install --progress-bar off -q -e '.[dev]' 2>&1 | grep -v '$(PIP_NOISE)' || true; }; \
	$(PY) -c 'import dolfinx_solver, dolfinx, torch, h5py, hydra' || { echo "error: the venv is incomplete; see pip's messages above" >&2; exit 1; }; \
	touch $@; echo "setup: ready ($(VENV))"

setup: $(STAMP) ## create .venv (Python >= 3.12) and install the project with dev extras

data: $(STAMP) ## generate the default dataset (small preset) under data/
	$(PY) -m pipeline.data $(ARGS)

train: $(STAMP) ## train the default model (Conv2D, Basic, quick_lbfgs: quick + 600 L-BFGS iterations, ~3 min) on the default data
	$(PY) -m pipeline.train $(ARGS)

submodel: $(STAMP) ## re-solve the zone with network-driven boundaries for the trained runs (TARGET=run/sweep)
	$(PY) -m pipeline.submodel $(if $(TARGET),target=$(TARGET)) $(ARGS)

report: $(STAMP) ## Markdown report with figures for the trained runs (TARGET=run/sweep folder)
	$(PY) -m pipeline.report $(if $(TARGET),target=$(TARGET)) $(ARGS)

baselines: $(STAMP) ## non-neural baselines (zero, nearest, RBF, POD+RBF) on the default data: the difficulty meter
	$(PY) -m pipeline.baselines $(ARGS)

ensemble: $(STAMP) ## beyond the paper: the cheapest networks-only surrogate measured to beat the RBF meter on u and v, two Conv2D seeds at short_cos averaged (~8 min on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv2d reg=basic seed=0,1 train=short_cos \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/small-ensemble
	$(PY) -m pipeline.submodel target=results/sweeps/small-ensemble progress=false
	$(PY) -m pipeline.ensemble target=results/sweeps/small-ensemble
	$(PY) -m pipeline.tables results/sweeps/small-ensemble | awk '/seed ensembles/{on=1} /^## Missing/{on=0} on' 

all: data train submodel baselines report ## the stages on the default small preset, baselines included

grid: $(STAMP) ## the paper's 11 x 6 grid as one Hydra multirun (joblib, NJOBS at a time, PROTOCOL=short, SEEDS=0 or 0,1,2)
	$(PY) -m pipeline.train -m 'model=glob(*,exclude=[conv4d,conv3_5d,conv3_5db])' 'reg=glob(*)' train=$(PROTOCOL) hydra/launcher=local \
		hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false seed=$(SEEDS) $(ARGS)

tables: $(STAMP) ## gather a sweep into the paper's tables (SWEEP=results/sweeps/small-short, RECORDS=committed runs.jsonl)
	$(PY) -m pipeline.tables $(SWEEP) $(if $(RECORDS),--records $(RECORDS))

study: $(STAMP) ## regenerate docs/results/small-quick: 3D family x {Basic, BN} x 3 seeds + Conv2.5D E&SL, baselines
	$(small_data)
	$(PY) -m pipeline.train -m model=conv3d,conv2_5d,conv2_5db reg=basic,bn seed=0,1,2 train=quick_b10 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false
	$(PY) -m pipeline.train -m model=conv2_5d reg=e_sl seed=0,1,2 train=quick_b10 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false
	$(call finish_study,$(STUDY),docs/results/small-quick)

study-quick: $(STAMP) ## docs/results/small-quick-schedule: the default quick protocol, Conv2.5D x {Basic, BN, E&SL}, Conv2.5Db, Conv3D, Conv2D x 3 seeds (~30 min on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv2_5d,conv2_5db,conv3d,conv2d reg=basic seed=0,1,2 train=quick \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDY)-schedule
	$(PY) -m pipeline.train -m model=conv2_5d reg=bn,e_sl seed=0,1,2 train=quick \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDY)-schedule
	$(call finish_study,$(STUDY)-schedule,docs/results/small-quick-schedule)

study-short-cos: $(STAMP) ## docs/results/small-short_cos: Conv2D, Conv3D, Conv2.5D, Conv2.5Db / Basic x 3 seeds at short_cos, 1000 epochs of quick's schedule, with seed ensembles (~3 h of core time: ~1.6 h on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv2_5d,conv2d,conv2_5db,conv3d seed=0,1,2 train=short_cos \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/small-short_cos
	$(call finish_study,results/sweeps/small-short_cos,docs/results/small-short_cos)

study-default: $(STAMP) ## docs/results/small-quick_lbfgs600: the default run (Conv2D / Basic, quick_lbfgs: 600 L-BFGS iterations) x 3 seeds (~15 min on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv2d seed=0,1,2 train=quick_lbfgs \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/small-quick_lbfgs600
	$(call finish_study,results/sweeps/small-quick_lbfgs600,docs/results/small-quick_lbfgs600)

study-quick-lbfgs: $(STAMP) ## docs/results/small-quick_lbfgs: quick_lbfgs with 1000 iterations (the default until 2026-12-06), Conv2D / Basic x 3 seeds and the 5 boundary models (~35 min on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv2d seed=0,1,2 train=quick_lbfgs train.lbfgs_iters=1000 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/small-quick_lbfgs
	$(PY) -m pipeline.train -m model=$(BOUNDARY_MODELS) seed=0,1,2 train=quick_lbfgs train.lbfgs_iters=1000 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/small-quick_lbfgs
	$(call finish_study,results/sweeps/small-quick_lbfgs,docs/results/small-quick_lbfgs)

study-short-cos-lbfgs: $(STAMP) ## docs/results/small-short_cos_lbfgs: study-short-cos's runs finished by LBFGS=600 L-BFGS iterations (reuses its checkpoints when present; ~1 h on 2 cores; LBFGS=1000: ..._lbfgs1000, ~1.5 h)
	$(small_data)
	$(call seed_checkpoints,$(foreach m,$(subst $(comma), ,$(SCL_MODELS)),results/sweeps/small-short_cos/$(m)-basic-s*/checkpoint.pt),results/sweeps/$(SCL))
	$(PY) -m pipeline.train -m model=$(SCL_MODELS) seed=0,1,2 train=short_cos train.lbfgs_iters=$(LBFGS) \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=results/sweeps/$(SCL)
	$(call finish_study,results/sweeps/$(SCL),docs/results/$(SCL))

study-mirror: $(STAMP) ## docs/results/small-mirror_y: MIRROR_MODELS / Basic x SEEDS at short_cos + 1000 L-BFGS iterations, fitted to the training samples and their mirror images across y (mirror=[y]), with the mirrored meter (Conv2D ~30 min per run on one core); MIRROR_MODE=fold: folded instead, network and meter, read against both meters (small-mirror_y-fold, ~15 min); MIRROR_ARGS / MIRROR_TAG: a variant's overrides and folder suffix
	$(small_data)
	$(PY) -m pipeline.baselines mirror=[y] progress=false
	$(if $(filter fold,$(MIRROR_MODE)),$(PY) -m pipeline.baselines mirror=[y] mirror_mode=fold progress=false)
	$(PY) -m pipeline.train -m model=$(MIRROR_MODELS) seed=$(SEEDS) train=short_cos train.lbfgs_iters=1000 'mirror=[y]' \
		mirror_mode=$(MIRROR_MODE) hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false \
		$(MIRROR_ARGS) hydra.sweep.dir=results/sweeps/$(MIRROR_STUDY)
	$(call finish_study,results/sweeps/$(MIRROR_STUDY),docs/results/$(MIRROR_STUDY))

study-short: $(STAMP) ## docs/results/small-short: 3D family x REGS (basic,bn) at the paper's short protocol (SEEDS=0: ~1.5 h on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv3d,conv2_5db,conv2_5d reg=$(REGS) seed=$(SEEDS) train=short \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYSHORT)
	$(call finish_study,$(STUDYSHORT),docs/results/small-short)

study-short-avg: $(STAMP) ## docs/results/small-short_avg: 3D family x REGS at short with late-epoch weight averaging (train=short_avg)
	$(small_data)
	$(PY) -m pipeline.train -m model=conv3d,conv2_5db,conv2_5d reg=$(REGS) seed=$(SEEDS) train=short_avg \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYSHORT)_avg
	$(call finish_study,$(STUDYSHORT)_avg,docs/results/small-short_avg)

study-boundary: $(STAMP) ## regenerate docs/results/small-quick-boundary: 5 boundary models x {Basic, BN, E&SL} x 3 seeds
	$(small_data)
	$(PY) -m pipeline.train -m model=$(BOUNDARY_MODELS) \
		reg=basic,bn,e_sl seed=0,1,2 train=quick_b10 hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 \
		progress=false hydra.sweep.dir=$(STUDY)-boundary
	$(call finish_study,$(STUDY)-boundary,docs/results/small-quick-boundary)

study-short-boundary: $(STAMP) ## docs/results/small-short-boundary: 5 boundary models x {Basic, E&SL, BN} at short (SEEDS=0: ~50 min on 2 cores)
	$(small_data)
	$(PY) -m pipeline.train -m reg=basic,e_sl,bn model=$(BOUNDARY_MODELS) \
		seed=$(SEEDS) train=short hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false \
		hydra.sweep.dir=$(STUDYSHORT)-boundary
	$(call finish_study,$(STUDYSHORT)-boundary,docs/results/small-short-boundary)

study-long-boundary: $(STAMP) ## docs/results/small-long-boundary: boundary models at the paper's long protocol (LONG_MODELS, LONG_REGS, SEEDS)
	$(small_data)
	$(PY) -m pipeline.train -m model=$(LONG_MODELS) reg=$(LONG_REGS) seed=$(SEEDS) train=long \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYLONG)-boundary
	$(call finish_study,$(STUDYLONG)-boundary,docs/results/small-long-boundary)

study-short-wide: $(STAMP) ## docs/results/small-short-wide<WIDTH>: capacity study, the 3D family at WIDTH=x2|x4|x8 (x8: the paper's sizes) its widths (conf/width/) at the paper's short protocol (WIDE_MODELS, WIDE_REGS, SEEDS)
	$(small_data)
	$(PY) -m pipeline.train -m model=$(WIDE_MODELS) reg=$(WIDE_REGS) seed=$(SEEDS) train=short +width=$(WIDTH) \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYSHORT)-wide$(WIDTH)
	$(call finish_study,$(STUDYSHORT)-wide$(WIDTH),docs/results/small-short-wide$(WIDTH))

study-long-3d: $(STAMP) ## docs/results/small-long-3d: the 3D family at the paper's long protocol (LONG3D_MODELS, LONG_REGS, SEEDS; Conv2.5Db ~2 h per run on one core)
	$(small_data)
	$(PY) -m pipeline.train -m model=$(LONG3D_MODELS) reg=$(LONG_REGS) seed=$(SEEDS) train=long \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYLONG)-3d
	$(call finish_study,$(STUDYLONG)-3d,docs/results/small-long-3d)

study-long-3d-lbfgs: $(STAMP) ## docs/results/small-long-3d_lbfgs<LBFGS>: study-long-3d's runs finished by LBFGS L-BFGS iterations (reuses its checkpoints; ~15 min per 1000 on one core)
	$(small_data)
	$(call seed_checkpoints,$(foreach m,$(subst $(comma), ,$(LONG3D_MODELS)),$(foreach r,$(subst $(comma), ,$(LONG_REGS)),$(STUDYLONG)-3d/$(m)-$(r)-s*/checkpoint.pt)),$(STUDYLONG)-3d_lbfgs$(LBFGS))
	$(PY) -m pipeline.train -m model=$(LONG3D_MODELS) reg=$(LONG_REGS) seed=$(SEEDS) train=long train.lbfgs_iters=$(LBFGS) \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDYLONG)-3d_lbfgs$(LBFGS)
	$(call finish_study,$(STUDYLONG)-3d_lbfgs$(LBFGS),docs/results/small-long-3d_lbfgs$(LBFGS))

study-3d: $(STAMP) ## 3D speed-up table (docs/results/3d-speedup): small3d/medium3d/paper3d data + baselines, Conv3.5Db on each, Conv3.5D on paper3d, submodel
	for d in small3d medium3d paper3d; do \
		$(PY) -m pipeline.data dataset=$$d progress=false; $(PY) -m pipeline.baselines data=$$d progress=false; done
	$(PY) -m pipeline.train -m data=small3d,medium3d,paper3d model=conv3_5db reg=basic train=quick_b10 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDY3D) \
		'hydra.sweep.subdir=$${data}-$${model.name}-$${reg.name}-s$${seed}'
	$(PY) -m pipeline.train -m data=paper3d model=conv3_5d reg=basic train=quick_b10 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDY3D) \
		'hydra.sweep.subdir=$${data}-$${model.name}-$${reg.name}-s$${seed}'
	$(PY) -m pipeline.submodel target=$(STUDY3D) progress=false threads=1 $(NEWMARK_CG)
	$(PY) -m pipeline.speedup $(STUDY3D) --out docs/results/3d-speedup

study-paper: $(STAMP) ## docs/results/paper-quick: the paper preset (129^2 parent, 33^2 zone, 129 snapshots), PAPER_MODELS / Basic x SEEDS at quick_b10, PAPER_ARGS / PAPER_TAG a variant (per run on one core beside another job: FC t 6 min, Conv2.5Db 40 min, Conv2D 40 min, Conv3D 80 min)
	$(PY) -m pipeline.data dataset=paper progress=false
	$(PY) -m pipeline.baselines data=paper progress=false
	$(PY) -m pipeline.train -m data=paper model=$(PAPER_MODELS) reg=basic seed=$(SEEDS) train=quick_b10 \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false $(PAPER_ARGS) hydra.sweep.dir=$(STUDYPAPER)
	$(call finish_study,$(STUDYPAPER),docs/results/paper-quick$(PAPER_TAG))

study-4d: $(STAMP) ## accuracy cost of the 4D decomposition (docs/results/4d-cost): Conv4D, Conv3.5D, Conv3.5Db on medium3d (Conv4D ~1.5 h per run)
	$(PY) -m pipeline.data dataset=medium3d progress=false; $(PY) -m pipeline.baselines data=medium3d progress=false
	$(PY) -m pipeline.train -m data=medium3d model=conv4d,conv3_5d,conv3_5db reg=basic train=quick_b10 seed=$(SEEDS) \
		hydra/launcher=local hydra.launcher.n_jobs=$(NJOBS) threads=1 progress=false hydra.sweep.dir=$(STUDY4D) \
		'hydra.sweep.subdir=$${data}-$${model.name}-$${reg.name}-s$${seed}'
	$(PY) -m pipeline.submodel target=$(STUDY4D) progress=false threads=1 $(NEWMARK_CG)
	$(PY) -m pipeline.tables $(STUDY4D) --out docs/results/4d-cost
	$(PY) -m pipeline.speedup $(STUDY4D) --out docs/results/4d-cost

test: $(STAMP) ## run the test suite, then the MPI tests under mpirun (NP=2 ranks)
	$(PY) -m pytest $(ARGS)
	$(MAKE) --no-print-directory test-mpi

test-fast: $(STAMP) ## run the tests not marked slow (serial only)
	$(PY) -m pytest -m "not slow" $(ARGS)

test-mpi: $(STAMP) ## run the tests marked mpi under mpirun (NP=2 ranks; killed after 15 min if hung)
	timeout 900 $(VENV)/bin/mpirun -n $(NP) $(PY) -m pytest -m mpi -q -p no:cacheprovider $(ARGS)

test-slurm: $(STAMP) ## start a single-node Slurm (root, apt), run the tests marked slurm, stop it (skips where impossible)
	timeout 1800 $(PY) -m pytest -m slurm -v -p no:cacheprovider $(ARGS)

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) ## benchmarks, every section (ARGS=<section ...> for some: fe surrogate factors activation surrogate3d widths loop share; compile is opt-in)
	$(PY) -m pipeline.bench $(ARGS)

clean: ## remove caches and Hydra logs (keeps data/, results/ and .venv)
	rm -rf .pytest_cache .ruff_cache outputs multirun
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
