// Wires the coordinator and the workers to a transport: MPI when launched by mpirun/srun, else one
// process with worker threads.
#include "runner/run.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "runner/messages.hpp"
#include "runner/worker.hpp"
#include "trainer/splits.hpp"

namespace ablate::runner {

RunOptions with_defaults(RunOptions o) {
  if (!o.list_cases) {
    o.list_cases = [](const DataConfig& d) { return trainer::list_cases(d); };
    if (!o.data_fingerprint) o.data_fingerprint = [](const DataConfig& d) { return trainer::dataset_fingerprint(d); };
  }
  if (!o.make_splits) {
    o.make_splits = [](const std::vector<std::string>& cases, const StudyConfig& s, int repeat) {
      std::vector<CaseSplit> out;
      for (auto& sp : trainer::make_splits(cases, s, repeat)) out.push_back({sp.train, sp.val, sp.test});
      return out;
    };
  }
  if (o.inproc_workers < 1) o.inproc_workers = 1;
  return o;
}

int run_exit_code(bool interrupted, int failed_now, int failed_before) {
  if (interrupted) return kRunInterrupted;
  return failed_now > 0 || failed_before > 0 ? kRunFailed : kRunOk;
}

int run_study(const RunOptions& options_in, Executor& executor) {
  const RunOptions options = with_defaults(options_in);
  install_stop_handlers();
  std::atomic<bool>& stop = stop_flag();

  std::unique_ptr<Transport> mpi;
  if (launched_by_mpi()) {
    mpi = make_mpi_transport();
    // A single rank (e.g. `ablate run` typed into a multi-task Slurm batch shell, whose environment looks
    // like a launch but is not one) would wait forever for workers: run in-process instead.
    if (mpi->size() < 2) {
      spdlog::warn("MPI gives this job a single rank: running the coordinator and {} worker(s) in this process "
                   "(launch with srun or mpirun -np N for N-1 worker ranks)",
                   options.inproc_workers);
      mpi.reset();
    }
  }
  if (mpi) {
    auto& t = mpi;
    if (t->rank() != 0) {
      try {
        run_worker(*t, executor, stop);
      } catch (const std::exception& e) {
        spdlog::critical("worker {}: {}; ending the job (what is stored survives)", t->rank(), e.what());
        t->abort(1);
      }
      return kRunOk;
    }
    bool started = false;
    try {
      return run_coordinator(options, *t, executor, stop, started);
    } catch (const std::exception& e) {
      if (!started) {
        // Nothing was sent yet: the workers wait for a welcome; tell them to go home and report the error.
        for (int w = 1; w < t->size(); ++w) t->send(w, encode_shutdown());
        throw;
      }
      spdlog::critical("coordinator: {}; ending the job (what is stored survives; run again to resume)", e.what());
      t->abort(1);
      return kRunFailed;
    }
  }

  // One process: the coordinator here, the workers in threads, the same logic over in-process queues.
  auto transports = make_inproc_transports(options.inproc_workers);
  std::vector<std::thread> workers;
  std::vector<std::string> worker_errors(transports.size());
  for (size_t w = 1; w < transports.size(); ++w) {
    workers.emplace_back([&, w] {
      try {
        run_worker(*transports[w], executor, stop);
      } catch (const std::exception& e) {
        worker_errors[w] = e.what();
        // The coordinator may be waiting for this worker's task: tell it, so the run ends instead of
        // hanging (under MPI the same failure aborts the job).
        transports[w]->send(0, encode_worker_error(e.what()));
      }
    });
  }
  bool started = false;
  int code = kRunFailed;
  std::exception_ptr error;
  try {
    code = run_coordinator(options, *transports[0], executor, stop, started);
  } catch (...) {
    error = std::current_exception();
    // Refused before any task was sent (changed study, lock): the idle workers just go home. Failed
    // mid-run: running tasks stop at their next step first. The flag is process-wide (signals), so it is
    // raised only when there is a task to stop.
    if (started) stop.store(true);
    for (size_t w = 1; w < transports.size(); ++w) transports[0]->send(static_cast<int>(w), encode_shutdown());
  }
  for (auto& th : workers) th.join();
  if (error) {
    if (started) stop.store(false);  // it was set here to end the workers, not by a signal
    std::rethrow_exception(error);
  }
  for (const auto& e : worker_errors) {
    if (!e.empty()) throw std::runtime_error("worker: " + e);
  }
  return code;
}

}  // namespace ablate::runner
