// placeholder until the runner lands
namespace ablate::runner { int runner_placeholder() { return 0; } }
