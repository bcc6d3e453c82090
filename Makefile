# Strata — the two commands of the quick start are `make run` and `make test`.
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
ARGS ?=

.PHONY: run test build release lint format bench bench-queue bench-factory fuzz fuzz-debug packages clean

## run: build (release) and start `strata serve` on the embedded PostgreSQL, printing the URLs
run: packages release
	.build/release/strata serve $(ARGS)

## test: install missing system packages, check formatting, build and run every test (a test
## still running after TEST_TIME_LIMIT seconds fails the run with its name), then fuzz the API
## against its OpenAPI document (schemathesis, from PyPI into .venv)
test: packages lint $(VENV)/bin/moto_server
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) bash scripts/test-watchdog.sh
	$(MAKE) fuzz-debug

## build: debug build
build:
	$(SWIFT) build

## release: optimised build of the strata command
release:
	$(SWIFT) build -c release --product strata

## lint: fail on any difference from the committed .swift-format style
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

## format: rewrite the sources in the house style
format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

## bench: the CRUD benchmark beside asyncpg and pgbench (release build), e.g. make bench ARGS=--json
bench: packages release $(VENV)/bin/python
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" .build/release/strata bench crud --peer-python $(VENV)/bin/python $(ARGS)

## bench-queue: the queue benchmark beside pgqueuer and procrastinate (release build)
bench-queue: packages release $(VENV)/bin/python
	.build/release/strata bench queue --peer-python $(VENV)/bin/python $(ARGS)

## bench-factory: the factory benchmark beside InfluxDB (installs Debian's influxdb) and COPY (release build)
bench-factory: release
	@scripts/ensure-packages.sh influxdb
	.build/release/strata bench factory $(ARGS)

## fuzz: schemathesis against a throw-away server, every check (release build)
fuzz: packages release $(VENV)/bin/schemathesis
	bash scripts/fuzz.sh

## fuzz-debug: the same against the debug build (part of make test)
fuzz-debug: $(VENV)/bin/schemathesis
	$(SWIFT) build --product strata
	STRATA=.build/debug/strata bash scripts/fuzz.sh

$(VENV)/bin/schemathesis: Benchmarks/peers/fuzz-requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r Benchmarks/peers/fuzz-requirements.txt
	touch $@

# The S3-compatible server the object-store tests start (moto, from PyPI).
$(VENV)/bin/moto_server: Tests/requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r Tests/requirements.txt
	touch $@

$(VENV)/bin/python: Benchmarks/peers/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r Benchmarks/peers/requirements.txt
	touch $(VENV)/bin/python

## packages: install PostgreSQL and redis-server when missing (apt-get as root; else print the command)
packages:
	@scripts/ensure-packages.sh

clean:
	rm -rf .build $(VENV)
