/* The `ablate` launcher: blocks SIGTERM, SIGUSR1 and SIGINT, then executes the program itself
 * (`ablate-core` next to this file). Loading LibTorch takes the core most of a second before its main()
 * can install the stop handlers; a stop signal in that window (mpirun or Slurm signalling a job that is
 * still starting) would kill it (exit 138, no requeue). Blocked, the signal stays pending across exec
 * and is delivered when the core unblocks it: `run` has its handlers installed by then (a checkpointed
 * stop, exit 3), every other verb unblocks with the default action (it ends, as before). This file is
 * tiny C with libc only, so the window it leaves is its own start, about a millisecond. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  (void)argc;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, NULL);

  static const char suffix[] = "-core";
  char core[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", core, sizeof core - sizeof suffix);
  if (n <= 0) {
    fprintf(stderr, "ablate: cannot find its own executable (/proc/self/exe): %s\n", strerror(errno));
    return 1;
  }
  memcpy(core + n, suffix, sizeof suffix);
  execv(core, argv);
  fprintf(stderr, "ablate: cannot run %s: %s (it is built and installed next to the ablate launcher)\n", core,
          strerror(errno));
  return 1;
}
