// The worker loop and the coordinator loop, each over a Transport (runner/run.cpp wires them up).
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
