#include "runner/messages.hpp"

#include <cstring>

namespace ablate::runner {

namespace {

const char kMagic[4] = {'A', 'B', 'L', 'T'};

// Little-endian-as-the-host fixed-width fields: every rank of a job runs the same binary on the same
// architecture, so no byte swapping is needed; strings and vectors carry their lengths.
class Writer {
 public:
  explicit Writer(MessageKind k) {
    out_.append(kMagic, 4);
    u32(kMessageFormat);
    out_.push_back(static_cast<char>(k));
  }
  template <class T>
  void raw(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void u32(std::uint32_t v) { raw(v); }
  void i64(std::int64_t v) { raw(v); }
  void f64(double v) { raw(v); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void strs(const std::vector<std::string>& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const std::string& bytes, MessageKind expected) : b_(bytes) {
    if (kind_of(bytes) != expected) {
      throw MessageError("message of kind " + std::to_string(static_cast<int>(kind_of(bytes))) + " where kind " +
                         std::to_string(static_cast<int>(expected)) + " was expected");
    }
    pos_ = 9;
  }
  template <class T>
  T raw() {
    if (pos_ + sizeof(T) > b_.size()) throw MessageError("truncated message");
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::uint32_t u32() { return raw<std::uint32_t>(); }
  std::int64_t i64() { return raw<std::int64_t>(); }
  double f64() { return raw<double>(); }
  std::string str() {
    std::uint32_t n = u32();
    if (pos_ + n > b_.size()) throw MessageError("truncated message (string)");
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::vector<std::string> strs() {
    std::uint32_t n = u32();
    std::vector<std::string> v;
    v.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) v.push_back(str());
    return v;
  }

 private:
  const std::string& b_;
  size_t pos_ = 0;
};

void put_epoch(Writer& w, const EpochRecord& e) {
  w.i64(e.epoch);
  w.f64(e.train_loss);
  w.f64(e.val_loss);
  w.f64(e.val_dice);
  w.f64(e.lr);
  w.f64(e.seconds);
  w.f64(e.val_score);
  w.f64(e.val_soft_dice);
}

EpochRecord get_epoch(Reader& r) {
  EpochRecord e;
  e.epoch = static_cast<int>(r.i64());
  e.train_loss = r.f64();
  e.val_loss = r.f64();
  e.val_dice = r.f64();
  e.lr = r.f64();
  e.seconds = r.f64();
  e.val_score = r.f64();
  e.val_soft_dice = r.f64();
  return e;
}

void put_result(Writer& w, const TaskResult& t) {
  w.u32(static_cast<std::uint32_t>(t.epochs.size()));
  for (const auto& e : t.epochs) put_epoch(w, e);
  w.i64(t.best_epoch);
  w.u32(static_cast<std::uint32_t>(t.fold_metrics.size()));
  for (const auto& f : t.fold_metrics) {
    w.str(f.metric);
    w.i64(f.cls);
    w.f64(f.value);
  }
  w.u32(static_cast<std::uint32_t>(t.case_metrics.size()));
  for (const auto& c : t.case_metrics) {
    w.str(c.case_id);
    w.i64(c.cls);
    w.str(c.metric);
    w.f64(c.value);
  }
  w.i64(t.parameters);
  w.f64(t.inference_ms_per_case);
  w.f64(t.train_seconds);
  w.i64(t.paused_after_epoch);
}

TaskResult get_result(Reader& r) {
  TaskResult t;
  std::uint32_t n = r.u32();
  for (std::uint32_t i = 0; i < n; ++i) t.epochs.push_back(get_epoch(r));
  t.best_epoch = static_cast<int>(r.i64());
  n = r.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    MetricValue f;
    f.metric = r.str();
    f.cls = static_cast<int>(r.i64());
    f.value = r.f64();
    t.fold_metrics.push_back(f);
  }
  n = r.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    CaseMetricValue c;
    c.case_id = r.str();
    c.cls = static_cast<int>(r.i64());
    c.metric = r.str();
    c.value = r.f64();
    t.case_metrics.push_back(c);
  }
  t.parameters = r.i64();
  t.inference_ms_per_case = r.f64();
  t.train_seconds = r.f64();
  t.paused_after_epoch = static_cast<int>(r.i64());
  return t;
}

Outcome get_outcome(Reader& r) {
  const int o = static_cast<int>(r.i64());
  if (o < 1 || o > 4) throw MessageError("unknown task outcome " + std::to_string(o));
  return static_cast<Outcome>(o);
}

}  // namespace

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kDone: return "done";
    case Outcome::kFailed: return "failed";
    case Outcome::kInterrupted: return "interrupted";
    case Outcome::kOutOfMemory: return "out of memory";
  }
  return "?";
}

MessageKind kind_of(const std::string& bytes) {
  if (bytes.size() < 9 || std::memcmp(bytes.data(), kMagic, 4) != 0) throw MessageError("not an ablate message");
  std::uint32_t version;
  std::memcpy(&version, bytes.data() + 4, 4);
  if (version != kMessageFormat) {
    throw MessageError("message format " + std::to_string(version) + ", this build speaks " + std::to_string(kMessageFormat) +
                       " (every rank must run the same ablate)");
  }
  auto k = static_cast<std::uint8_t>(bytes[8]);
  if (k < 1 || k > 8) throw MessageError("unknown message kind " + std::to_string(k));
  return static_cast<MessageKind>(k);
}

std::string encode(const Welcome& m) {
  Writer w(MessageKind::kWelcome);
  w.i64(m.ranks_per_gpu);
  w.i64(m.gpus_per_node);
  w.i64(m.gpus_required ? 1 : 0);
  return w.take();
}

Welcome decode_welcome(const std::string& bytes) {
  Reader r(bytes, MessageKind::kWelcome);
  Welcome m;
  m.ranks_per_gpu = static_cast<int>(r.i64());
  m.gpus_per_node = static_cast<int>(r.i64());
  m.gpus_required = r.i64() != 0;
  return m;
}

std::string encode(const Placement& m) {
  Writer w(MessageKind::kReady);
  w.str(m.host);
  w.i64(m.rank);
  w.i64(m.local_rank);
  w.str(m.device);
  w.i64(m.threads);
  w.str(m.device_facts);
  w.str(m.given_gpus);
  return w.take();
}

Placement decode_ready(const std::string& bytes) {
  Reader r(bytes, MessageKind::kReady);
  Placement m;
  m.host = r.str();
  m.rank = static_cast<int>(r.i64());
  m.local_rank = static_cast<int>(r.i64());
  m.device = r.str();
  m.threads = static_cast<int>(r.i64());
  m.device_facts = r.str();
  m.given_gpus = r.str();
  return m;
}

std::string encode(const Task& m) {
  Writer w(MessageKind::kTask);
  w.i64(m.version);
  w.i64(m.task_id);
  w.str(m.study);
  w.str(m.variant);
  w.str(m.variant_hash);
  w.str(m.canonical_config);
  w.i64(m.fold);
  w.i64(m.repeat);
  w.i64(static_cast<std::int64_t>(m.seed));
  w.strs(m.train_cases);
  w.strs(m.val_cases);
  w.strs(m.test_cases);
  w.str(m.checkpoint_path);
  w.i64(m.attempt);
  w.i64(m.pause_after_epoch);
  w.u32(static_cast<std::uint32_t>(m.shared_with.size()));
  for (const auto& s : m.shared_with) {
    w.i64(s.task_id);
    w.str(s.variant);
    w.str(s.variant_hash);
    w.str(s.canonical_config);
    w.i64(s.attempt);
  }
  return w.take();
}

Task decode_task(const std::string& bytes) {
  Reader r(bytes, MessageKind::kTask);
  Task m;
  m.version = static_cast<int>(r.i64());
  if (m.version != kTaskMessageVersion) {
    throw MessageError("task message version " + std::to_string(m.version) + ", this build reads " +
                       std::to_string(kTaskMessageVersion));
  }
  m.task_id = r.i64();
  m.study = r.str();
  m.variant = r.str();
  m.variant_hash = r.str();
  m.canonical_config = r.str();
  m.fold = static_cast<int>(r.i64());
  m.repeat = static_cast<int>(r.i64());
  m.seed = static_cast<std::uint64_t>(r.i64());
  m.train_cases = r.strs();
  m.val_cases = r.strs();
  m.test_cases = r.strs();
  m.checkpoint_path = r.str();
  m.attempt = static_cast<int>(r.i64());
  m.pause_after_epoch = static_cast<int>(r.i64());
  const std::uint32_t n = r.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    SharedMember s;
    s.task_id = r.i64();
    s.variant = r.str();
    s.variant_hash = r.str();
    s.canonical_config = r.str();
    s.attempt = static_cast<int>(r.i64());
    m.shared_with.push_back(std::move(s));
  }
  return m;
}

std::string encode(const Progress& m) {
  Writer w(MessageKind::kProgress);
  w.i64(m.task_id);
  put_epoch(w, m.epoch);
  return w.take();
}

Progress decode_progress(const std::string& bytes) {
  Reader r(bytes, MessageKind::kProgress);
  Progress m;
  m.task_id = r.i64();
  m.epoch = get_epoch(r);
  return m;
}

std::string encode(const ResultMessage& m) {
  Writer w(MessageKind::kResult);
  w.i64(m.task_id);
  w.i64(static_cast<int>(m.outcome));
  w.str(m.error);
  w.f64(m.seconds);
  put_result(w, m.result);
  w.u32(static_cast<std::uint32_t>(m.members.size()));
  for (const auto& mr : m.members) {
    w.i64(mr.task_id);
    w.i64(static_cast<int>(mr.outcome));
    w.str(mr.error);
    put_result(w, mr.result);
  }
  w.i64(m.retired ? 1 : 0);
  return w.take();
}

ResultMessage decode_result(const std::string& bytes) {
  Reader r(bytes, MessageKind::kResult);
  ResultMessage m;
  m.task_id = r.i64();
  m.outcome = get_outcome(r);
  m.error = r.str();
  m.seconds = r.f64();
  m.result = get_result(r);
  const std::uint32_t n = r.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    MemberResult mr;
    mr.task_id = r.i64();
    mr.outcome = get_outcome(r);
    mr.error = r.str();
    mr.result = get_result(r);
    m.members.push_back(std::move(mr));
  }
  m.retired = r.i64() != 0;
  return m;
}

std::string encode_shutdown() { return Writer(MessageKind::kShutdown).take(); }

std::string encode_worker_error(const std::string& what) {
  Writer w(MessageKind::kWorkerError);
  w.str(what);
  return w.take();
}

std::string decode_worker_error(const std::string& bytes) {
  Reader r(bytes, MessageKind::kWorkerError);
  return r.str();
}

std::string encode_refused(const std::string& why) {
  Writer w(MessageKind::kRefused);
  w.str(why);
  return w.take();
}

std::string decode_refused(const std::string& bytes) {
  Reader r(bytes, MessageKind::kRefused);
  return r.str();
}

}  // namespace ablate::runner
