#include "trainer/data/dataset.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ablations/output.hpp"
#include "trainer/data/json.hpp"
#include "trainer/data/nifti.hpp"

namespace ablate::trainer::data {

namespace fs = std::filesystem;

namespace {

bool is_within(const fs::path& root, const fs::path& p) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // trailing separator of root
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

}  // namespace

std::string resolve_inside(const std::string& root_dir, const std::string& relative, const std::string& where) {
  fs::path rel(relative);
  if (relative.empty()) throw std::runtime_error(where + ": empty path");
  // A NUL (\u0000) would cut the path short where the file system reads it; no file name needs one.
  for (char c : relative) {
    if (static_cast<unsigned char>(c) < 0x20) {
      throw std::runtime_error(where + ": path \"" + printable_text(relative) + "\" holds a control character");
    }
  }
  if (rel.is_absolute()) {
    throw std::runtime_error(where + ": absolute path \"" + printable_text(relative) + "\" (paths must be relative to the dataset folder)");
  }
  fs::path root = fs::absolute(root_dir).lexically_normal();
  fs::path full = (root / rel).lexically_normal();
  if (!is_within(root, full)) {
    throw std::runtime_error(where + ": path \"" + printable_text(relative) + "\" leaves the dataset folder " + root.string());
  }
  // Through symbolic links: compare the resolved locations as far as they exist.
  std::error_code ec;
  fs::path real_root = fs::weakly_canonical(root, ec);
  fs::path real_full = fs::weakly_canonical(full, ec);
  if (!ec && !is_within(real_root, real_full)) {
    throw std::runtime_error(where + ": path \"" + printable_text(relative) + "\" leaves the dataset folder through a symbolic link (to " +
                             real_full.string() + ")");
  }
  return full.string();
}

DatasetInfo read_dataset(const std::string& dir, std::vector<std::string>* problems) {
  DatasetInfo info;
  fs::path root = fs::absolute(dir).lexically_normal();
  if (root.has_filename() == false) root = root.parent_path();
  info.root = root.string();
  fs::path json_path = root / "dataset.json";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw std::runtime_error(info.root + ": dataset folder not found");
  if (!fs::exists(json_path, ec)) {
    throw std::runtime_error(json_path.string() +
                             ": not found (a Medical Segmentation Decathlon folder has dataset.json, imagesTr/, labelsTr/)");
  }
  // Type and size before a byte is read: a folder would read as an empty text, a FIFO would block, a
  // multi-GB file would be held whole in memory before any of it is parsed.
  std::string text;
  if (const std::string problem = read_input_file(json_path.string(), kMaxDatasetJsonBytes, "the dataset's JSON file", text);
      !problem.empty()) {
    throw std::runtime_error(json_path.string() + ": " + problem);
  }
  JsonValue doc = parse_json(text, json_path.string());
  if (!doc.is_object()) throw std::runtime_error(json_path.string() + ": the top level must be a JSON object");

  const JsonValue* name = doc.find("name");
  info.name = name && name->is_string() ? name->string : root.filename().string();
  if (const JsonValue* labels = doc.find("labels")) {
    if (!labels->is_object()) throw std::runtime_error(json_path.string() + ": \"labels\" must be an object {\"0\": \"background\", ...}");
    for (const auto& kv : labels->object) {
      try {
        size_t used = 0;
        int value = std::stoi(kv.first, &used);
        if (used != kv.first.size() || value < 0 || value > 255) throw std::invalid_argument("range");
        info.labels[value] = kv.second.is_string() ? kv.second.string : "";
      } catch (const std::exception&) {
        throw std::runtime_error(json_path.string() + ": labels: key \"" + printable_text(kv.first) + "\" is not a label value 0..255");
      }
    }
  }
  const JsonValue* training = doc.find("training");
  if (!training || !training->is_array()) {
    throw std::runtime_error(json_path.string() + ": \"training\" must be a list of {\"image\": ..., \"label\": ...}");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < training->array.size(); ++i) {
    std::string where = json_path.string() + ": training[" + std::to_string(i) + "]";
    try {
      const JsonValue& e = training->array[i];
      const JsonValue* image = e.find("image");
      const JsonValue* label = e.find("label");
      if (!image || !image->is_string()) throw std::runtime_error(where + ": \"image\" (a string) is missing");
      if (!label || !label->is_string()) throw std::runtime_error(where + ": \"label\" (a string) is missing");
      CaseEntry c;
      c.image = resolve_inside(info.root, image->string, where + ".image");
      c.label = resolve_inside(info.root, label->string, where + ".label");
      c.id = nifti_stem(c.image);
      if (c.id.empty()) throw std::runtime_error(where + ": empty case id from \"" + printable_text(image->string) + "\"");
      if (!ids.insert(c.id).second) throw std::runtime_error(where + ": duplicate case id \"" + printable_text(c.id) + "\"");
      info.cases.push_back(std::move(c));
    } catch (const std::runtime_error& err) {
      if (!problems) throw;
      problems->push_back(err.what());
    }
  }
  if (info.cases.empty() && !problems) throw std::runtime_error(json_path.string() + ": \"training\" lists no cases");
  return info;
}

}  // namespace ablate::trainer::data
