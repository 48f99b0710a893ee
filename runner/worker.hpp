// The worker loop and the coordinator loop, each over a Transport (runner/run.cpp wires them up).
//
// Contract: each loop runs on one thread for the whole run and talks only through its Transport
// (runner/transport.hpp says which thread may call it). `stop` is only read; a signal handler or another
// thread sets it. run_worker returns after a shutdown message and throws on a failure outside a task (a
// broken message, the transport); its caller reports that to the coordinator (kWorkerError) or aborts the
// MPI job (runner/run.cpp). run_coordinator returns the run's exit code (README "Exit codes") and throws
// when planning fails (after releasing the study's lock) or a message is broken.
#pragma once

#include <atomic>

#include "runner/executor.hpp"
#include "runner/run.hpp"
#include "runner/transport.hpp"

namespace ablate::runner {

void run_worker(Transport& transport, Executor& executor, const std::atomic<bool>& stop);

// Plans and stores the study, then dispatches until every task ended or a stop was requested.
// `started` turns true once tasks were sent (before that, a failure can simply shut the workers down).
int run_coordinator(const RunOptions& options, Transport& transport, Executor& executor, const std::atomic<bool>& stop,
                    bool& started);

}  // namespace ablate::runner
