// placeholder until the store lands
namespace ablate::db { int store_placeholder() { return 0; } }
