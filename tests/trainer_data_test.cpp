// Data layer: NIfTI reading (files written here with niftilib in several data types, with scaling, and
// broken files), dataset.json and its path checks, `data check` problems, the synthetic generator, the
// preprocessing and its cache, folds over cases, and augmentation keeping image and label aligned.
#include <gtest/gtest.h>
#include <nifti1_io.h>
#include <torch/torch.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <iostream>
#include <thread>

#include "ablations/output.hpp"
#include "trainer/data/check.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/data/loader.hpp"
#include "trainer/data/nifti.hpp"
#include "trainer/data/preprocess.hpp"
#include "trainer/data/synth.hpp"
#include "trainer/splits.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::trainer::data;

namespace {

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("ablate_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string str(const std::string& sub = "") const { return (sub.empty() ? path_ : path_ / sub).string(); }

 private:
  fs::path path_;
};

// Writes a 4x3x2 volume with niftilib directly (not through the project's writer).
template <typename T>
void write_raw(const std::string& path, int datatype, const std::vector<T>& values, float slope, float inter) {
  int dims[8] = {3, 4, 3, 2, 1, 1, 1, 1};
  nifti_image* nim = nifti_make_new_nim(dims, datatype, 1);
  ASSERT_NE(nim, nullptr);
  ASSERT_EQ(nifti_set_filenames(nim, path.c_str(), 0, 1), 0);
  nim->pixdim[1] = nim->dx = 0.8f;
  nim->pixdim[2] = nim->dy = 0.7f;
  nim->pixdim[3] = nim->dz = 2.5f;
  nim->scl_slope = slope;
  nim->scl_inter = inter;
  std::copy(values.begin(), values.end(), static_cast<T*>(nim->data));
  nifti_image_write(nim);
  nifti_image_free(nim);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool any_contains(const std::vector<std::string>& lines, const std::string& a, const std::string& b = "") {
  for (const auto& l : lines)
    if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
  return false;
}

SynthOptions small_synth(int cases = 4) {
  SynthOptions o;
  o.cases = cases;
  o.size = 32;
  o.slices = 6;
  o.seed = 11;
  return o;
}

}  // namespace

TEST(Nifti, ReadsIntegerAndFloatTypesWithScaling) {
  TempDir dir("nifti");
  std::vector<std::uint8_t> u8(24);
  std::vector<std::int16_t> i16(24);
  std::vector<float> f32(24);
  for (int i = 0; i < 24; ++i) {
    u8[i] = static_cast<std::uint8_t>(i * 10);
    i16[i] = static_cast<std::int16_t>(i * 100 - 1000);
    f32[i] = 0.25f * i - 3.0f;
  }
  write_raw(dir.str("u8.nii.gz"), DT_UINT8, u8, 0.0f, 0.0f);     // slope 0: unscaled (NIfTI-1 rule)
  write_raw(dir.str("i16.nii"), DT_INT16, i16, 2.0f, -1024.0f);  // HU = 2 * stored - 1024
  write_raw(dir.str("f32.nii.gz"), DT_FLOAT32, f32, 0.5f, 1.0f);
  const Volume a = read_nifti(dir.str("u8.nii.gz"));
  const Volume b = read_nifti(dir.str("i16.nii"));
  const Volume c = read_nifti(dir.str("f32.nii.gz"));
  EXPECT_EQ(a.dim, (std::array<int, 3>{4, 3, 2}));
  EXPECT_DOUBLE_EQ(a.spacing[0], 0.8f);
  EXPECT_DOUBLE_EQ(a.spacing[2], 2.5f);
  EXPECT_EQ(a.datatype, DT_UINT8);
  for (int i = 0; i < 24; ++i) {
    EXPECT_FLOAT_EQ(a.data[i], u8[i]);
    EXPECT_FLOAT_EQ(b.data[i], 2.0f * i16[i] - 1024.0f);
    EXPECT_FLOAT_EQ(c.data[i], 0.5f * f32[i] + 1.0f);
  }
  EXPECT_FLOAT_EQ(b.at(1, 2, 1), 2.0f * i16[1 + 4 * (2 + 3 * 1)] - 1024.0f);  // x fastest
  // The project's writer round-trips through the same reader.
  Volume w = c;
  write_nifti(dir.str("w.nii.gz"), w, kDtInt16, 0.5, -10.0);
  const Volume back = read_nifti(dir.str("w.nii.gz"));
  for (int i = 0; i < 24; ++i) EXPECT_NEAR(back.data[i], c.data[i], 0.25 + 1e-6);
}

TEST(Nifti, BrokenFilesGiveErrorsNamingTheFile) {
  TempDir dir("broken");
  Volume v;
  v.dim = {8, 8, 4};
  v.data.assign(v.voxels(), 1.0f);
  write_nifti(dir.str("ok.nii.gz"), v, kDtFloat32);
  write_nifti(dir.str("ok.nii"), Volume(v), kDtFloat32);
  fs::rename(dir.str("ok.nii"), dir.str("plain.nii"));
  const std::string gz = read_all(dir.str("ok.nii.gz")), plain = read_all(dir.str("plain.nii"));
  write_all(dir.str("trunc.nii.gz"), gz.substr(0, gz.size() / 2));
  write_all(dir.str("short.nii"), plain.substr(0, plain.size() - 17));
  write_all(dir.str("short_data.nii.gz"), gz.substr(0, gz.size() - 40));  // header intact, data cut
  write_all(dir.str("junk.nii"), "this is not a NIfTI file at all, just some text padding it out......");
  write_all(dir.str("empty.nii.gz"), "");
  for (const std::string name : {"trunc.nii.gz", "short.nii", "short_data.nii.gz", "junk.nii", "empty.nii.gz", "absent.nii.gz"}) {
    const std::string msg = error_of([&] { read_nifti(dir.str(name)); });
    EXPECT_NE(msg.find(name), std::string::npos) << name << ": " << msg;
  }
  EXPECT_NE(error_of([&] { read_nifti(dir.str("short.nii")); }).find("truncated"), std::string::npos);
  EXPECT_NE(error_of([&] { read_nifti(dir.str("short_data.nii.gz")); }).find("truncated"), std::string::npos);
  EXPECT_NO_THROW(read_nifti(dir.str("ok.nii.gz")));
  // With both X.nii and X.nii.gz niftilib mixes header and data of the two: refused.
  write_nifti(dir.str("ok.nii"), v, kDtFloat32);
  EXPECT_NE(error_of([&] { read_nifti(dir.str("ok.nii.gz")); }).find("remove one"), std::string::npos);
  // A 4D file with two time points is refused with the reason.
  int dims[8] = {4, 2, 2, 2, 2, 1, 1, 1};
  nifti_image* nim = nifti_make_new_nim(dims, DT_FLOAT32, 1);
  nifti_set_filenames(nim, dir.str("four.nii").c_str(), 0, 1);
  nifti_image_write(nim);
  nifti_image_free(nim);
  EXPECT_NE(error_of([&] { read_nifti(dir.str("four.nii")); }).find("4D"), std::string::npos);
}

TEST(Dataset, ReadsMsdLayoutAndRejectsPathsLeavingTheFolder) {
  TempDir dir("dataset");
  write_synthetic_dataset(dir.str("ds"), small_synth(3));
  const DatasetInfo info = read_dataset(dir.str("ds"));
  ASSERT_EQ(info.cases.size(), 3u);
  EXPECT_EQ(info.cases[0].id, "synth_000");
  EXPECT_EQ(info.labels.at(2), "tumour");
  DataConfig dc;
  dc.path = dir.str("ds");
  EXPECT_EQ(trainer::list_cases(dc), (std::vector<std::string>{"synth_000", "synth_001", "synth_002"}));

  const std::string root = dir.str("ds");
  EXPECT_NE(error_of([&] { resolve_inside(root, "../outside.nii.gz", "x"); }).find("leaves the dataset folder"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_inside(root, "imagesTr/../../x.nii", "x"); }).find("leaves"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_inside(root, "/etc/passwd", "x"); }).find("absolute"), std::string::npos);
  fs::create_directory_symlink(dir.path(), dir.path() / "ds" / "link");
  EXPECT_NE(error_of([&] { resolve_inside(root, "link/secret.nii", "x"); }).find("symbolic link"), std::string::npos);
  EXPECT_NO_THROW(resolve_inside(root, "./imagesTr/synth_000.nii.gz", "x"));

  write_all(dir.str("ds/dataset.json"), "{\"training\": [ {\"image\": \"./imagesTr/a.nii.gz\" ");
  const std::string msg = error_of([&] { read_dataset(dir.str("ds")); });
  EXPECT_NE(msg.find("dataset.json:1:"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { read_dataset(dir.str("nothing")); }).find("not found"), std::string::npos);
}

// dataset.json is checked before a byte is read (docs/DATA.md "Limits before the read"): too large, not a
// regular file; and its text never cuts an error off (a NUL is escaped), wherever it stands.
TEST(Dataset, JsonIsCheckedBeforeItIsReadAndNulsNeverCutAMessage) {
  TempDir dir("dataset_limits");
  const std::string ds = dir.str("ds");
  write_synthetic_dataset(ds, small_synth(2));
  const std::string json = ds + "/dataset.json";
  const std::string good = [&] {
    std::ifstream in(json);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  // A sparse file one byte past the cap: refused by its size, not read.
  fs::remove(json);
  write_all(json, "{");
  fs::resize_file(json, kMaxDatasetJsonBytes + 1);
  std::string msg = error_of([&] { read_dataset(ds); });
  EXPECT_NE(msg.find(json + ": it has 67108865 bytes; the dataset's JSON file may have at most 67108864 (64 MiB)"),
            std::string::npos)
      << msg;
  // A folder and a FIFO: refused by their type (a FIFO read would block until a writer came).
  fs::remove(json);
  fs::create_directory(json);
  EXPECT_NE(error_of([&] { read_dataset(ds); }).find(json + ": it is a folder"), std::string::npos);
  fs::remove(json);
  ASSERT_EQ(::mkfifo(json.c_str(), 0600), 0);
  msg = error_of([&] { read_dataset(ds); });
  EXPECT_NE(msg.find(json + ": it is not a regular file (a device, FIFO or socket)"), std::string::npos) << msg;
  fs::remove(json);

  // A NUL outside a string, inside a string, and escaped into an image path: each message is whole (its
  // C string is as long as the text) and says where.
  auto whole = [](const std::string& m) { return std::strlen(m.c_str()) == m.size(); };
  write_all(json, std::string("{\"training\": [\0 ]}", 18));
  msg = error_of([&] { read_dataset(ds); });
  EXPECT_TRUE(whole(msg)) << msg;
  EXPECT_NE(msg.find("dataset.json:1:15: unexpected character '\\0'"), std::string::npos) << msg;
  write_all(json, std::string("{\"name\": \"a\0b\", \"training\": []}", 31));
  msg = error_of([&] { read_dataset(ds); });
  EXPECT_TRUE(whole(msg)) << msg;
  EXPECT_NE(msg.find("dataset.json:1:12: control character '\\0' in a string (write it escaped, as \\u00XX)"), std::string::npos)
      << msg;
  write_all(json, "{\"training\": [{\"image\": \"./imagesTr/a\\u0000.nii.gz\", \"label\": \"./labelsTr/a.nii.gz\"}]}");
  msg = error_of([&] { read_dataset(ds); });
  EXPECT_TRUE(whole(msg)) << msg;
  EXPECT_NE(msg.find("training[0].image: path \"./imagesTr/a\\0.nii.gz\" holds a control character"), std::string::npos) << msg;
  write_all(json, "{\"labels\": {\"1\\u0001\": \"x\"}, \"training\": []}");
  msg = error_of([&] { read_dataset(ds); });
  EXPECT_NE(msg.find("labels: key \"1\\x01\" is not a label value 0..255"), std::string::npos) << msg;
  // The good file still reads.
  write_all(json, good);
  EXPECT_EQ(read_dataset(ds).cases.size(), 2u);
}

// The reader of every capped input: a /proc file (size 0 by stat) is read to its end, not as empty, and
// the cap holds while reading, whatever size was reported.
TEST(InputFile, ProcFilesAreReadWholeAndTheCapHoldsWhileReading) {
  std::string text;
  EXPECT_EQ(read_input_file("/proc/self/status", 1 << 20, "a status", text), "");
  EXPECT_NE(text.find("Name:"), std::string::npos) << text;
  EXPECT_EQ(read_input_file("/proc/self/status", 10, "a status", text), "it has more than 10 bytes; a status may have at most 10");
  EXPECT_EQ(read_input_file("/dev/zero", 10, "a status", text), "it is not a regular file (a device, FIFO or socket), expected a status");
  EXPECT_EQ(read_input_file("/no/such/file", 10, "x", text), "no such file");
  EXPECT_EQ(check_input_file("/proc/self/status", 10, "x"), "");  // the size is only known by reading
  EXPECT_EQ(printable_text(std::string("a\0b\x1b", 4)), "a\\0b\\x1b");
}

TEST(DataCheck, FindsEveryKindOfProblemNamingTheFile) {
  TempDir dir("check");
  const std::string ds = dir.str("ds");
  write_synthetic_dataset(ds, small_synth(6));
  {
    const CheckReport clean = check_dataset(ds);
    EXPECT_TRUE(clean.ok()) << (clean.problems.empty() ? "" : clean.problems[0]);
    EXPECT_EQ(clean.readable_cases, 6);
    EXPECT_NE(clean.summary.find("0.8..0.8 x 0.8..0.8 x 2.5..2.5"), std::string::npos) << clean.summary;
    EXPECT_NE(clean.summary.find("foreground fraction"), std::string::npos);
  }
  // 0: missing image and label; 1: label of another shape; 2: truncated image and truncated label (both
  // reported); 3: unexpected label value 7; 4: label with another orientation (spacing in the affine);
  // 5: untouched. Plus an entry leaving the folder.
  fs::remove(ds + "/imagesTr/synth_000.nii.gz");
  fs::remove(ds + "/labelsTr/synth_000.nii.gz");
  const std::string lab2 = read_all(ds + "/labelsTr/synth_002.nii.gz");
  write_all(ds + "/labelsTr/synth_002.nii.gz", lab2.substr(0, lab2.size() / 2));
  Volume small;
  small.dim = {16, 16, 6};
  small.spacing = {0.8, 0.8, 2.5};
  small.data.assign(small.voxels(), 0.0f);
  write_nifti(ds + "/labelsTr/synth_001.nii.gz", small, kDtUint8);
  const std::string img2 = read_all(ds + "/imagesTr/synth_002.nii.gz");
  write_all(ds + "/imagesTr/synth_002.nii.gz", img2.substr(0, img2.size() / 3));
  Volume lab3 = read_nifti(ds + "/labelsTr/synth_003.nii.gz");
  lab3.data[5] = 7.0f;
  write_nifti(ds + "/labelsTr/synth_003.nii.gz", lab3, kDtUint8);
  Volume lab4 = read_nifti(ds + "/labelsTr/synth_004.nii.gz");
  lab4.spacing = {1.5, 1.5, 5.0};
  write_nifti(ds + "/labelsTr/synth_004.nii.gz", lab4, kDtUint8);
  std::string json = read_all(ds + "/dataset.json");
  json.replace(json.find("\"training\": ["), 13, "\"training\": [{\"image\": \"../evil.nii.gz\", \"label\": \"./labelsTr/x.nii.gz\"}, ");
  write_all(ds + "/dataset.json", json);

  const CheckReport r = check_dataset(ds);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(any_contains(r.problems, "imagesTr/synth_000.nii.gz", "image file missing"));
  EXPECT_TRUE(any_contains(r.problems, "labelsTr/synth_000.nii.gz", "label file missing"));
  EXPECT_TRUE(any_contains(r.problems, "labelsTr/synth_002.nii.gz", "truncated"));
  EXPECT_TRUE(any_contains(r.problems, "labelsTr/synth_001.nii.gz", "shape 16x16x6"));
  EXPECT_TRUE(any_contains(r.problems, "imagesTr/synth_002.nii.gz", "truncated"));
  EXPECT_TRUE(any_contains(r.problems, "labelsTr/synth_003.nii.gz", "unexpected label value 7"));
  EXPECT_TRUE(any_contains(r.problems, "labelsTr/synth_004.nii.gz", "orientation"));
  EXPECT_TRUE(any_contains(r.problems, "training[0]", "leaves the dataset folder"));
  EXPECT_EQ(r.readable_cases, 1);
  EXPECT_FALSE(any_contains(r.problems, "synth_005"));
  // Not a dataset at all: one problem, no exception.
  const CheckReport none = check_dataset(dir.str("nothing"));
  ASSERT_EQ(none.problems.size(), 1u);
}

TEST(Synth, DeterministicFromSeedAndCtLike) {
  TempDir dir("synth");
  SynthOptions o = small_synth(2);
  write_synthetic_dataset(dir.str("a"), o);
  write_synthetic_dataset(dir.str("b"), o);
  o.seed = 12;
  write_synthetic_dataset(dir.str("c"), o);
  const Volume a = read_nifti(dir.str("a/imagesTr/synth_001.nii.gz"));
  const Volume b = read_nifti(dir.str("b/imagesTr/synth_001.nii.gz"));
  const Volume c = read_nifti(dir.str("c/imagesTr/synth_001.nii.gz"));
  EXPECT_EQ(a.data, b.data);
  EXPECT_NE(a.data, c.data);
  const Volume lab = read_nifti(dir.str("a/labelsTr/synth_001.nii.gz"));
  EXPECT_EQ(a.spacing[2], 2.5);
  EXPECT_LT(a.at(0, 0, 0), -900.0f);  // air in the corner
  double organ = 0, n = 0;
  for (std::size_t i = 0; i < lab.data.size(); ++i)
    if (lab.data[i] == 1.0f) {
      organ += a.data[i];
      ++n;
    }
  ASSERT_GT(n, 0);
  EXPECT_GT(organ / n, 40.0);  // soft tissue + contrast, in HU
  EXPECT_LT(organ / n, 200.0);
}

TEST(Preprocess, WindowSlicingResizingAndLabelGroups) {
  TempDir dir("prep");
  write_synthetic_dataset(dir.str("ds"), small_synth(1));
  const DatasetInfo info = read_dataset(dir.str("ds"));
  DataConfig d;
  d.path = dir.str("ds");
  d.image_size = 16;
  const PreparedCase c = preprocess_case(info.cases[0], d);
  EXPECT_EQ(c.slices, 6);
  EXPECT_EQ(c.size, 16);
  EXPECT_DOUBLE_EQ(c.spacing[0], 2.5);
  EXPECT_NEAR(c.spacing[1], 0.8 * 32 / 16, 1e-6);
  EXPECT_EQ(c.image.size(), 6u * 16 * 16);
  EXPECT_FLOAT_EQ(c.image[0], 0.0f);  // air clipped to the window's low end
  for (float v : c.image) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  std::set<int> merged(c.label.begin(), c.label.end());
  EXPECT_EQ(merged, (std::set<int>{0, 1}));  // no groups: every label > 0 is one foreground
  d.label_groups = {{2}};                    // tumour only
  EXPECT_EQ(map_label(1, d), 0);
  EXPECT_EQ(map_label(2, d), 1);
  d.label_groups = {{1}, {2}};  // pancreas and tumour as two classes
  EXPECT_EQ(map_label(1, d), 1);
  EXPECT_EQ(map_label(2, d), 2);
  // The native label keeps every source voxel: its classes are exactly the mapped source values.
  const NativeLabel two = load_native_label(info.cases[0], d);
  const Volume raw = read_nifti(info.cases[0].label);
  std::set<int> expected, classes(two.label.begin(), two.label.end());
  for (float v : raw.data) expected.insert(map_label(static_cast<int>(v), d));
  EXPECT_EQ(classes, expected);
  EXPECT_TRUE(classes.count(1));
  // Overlapping groups would leave class 2 empty (label 2 goes to the first group): refused, naming both.
  d.label_groups = {{1, 2}, {2}};
  EXPECT_NE(error_of([&] { preprocess_case(info.cases[0], d); }).find("source label 2 is in group 0 and group 1"), std::string::npos);
  // Slicing along x: slices = nx, rows = z, columns = y.
  d.label_groups.clear();
  d.axis = 0;
  const PreparedCase cx = preprocess_case(info.cases[0], d);
  EXPECT_EQ(cx.slices, 32);
  EXPECT_NEAR(cx.spacing[1], 2.5 * 6 / 16, 1e-6);
  d.axis = 3;
  EXPECT_NE(error_of([&] { preprocess_case(info.cases[0], d); }).find("data.axis"), std::string::npos);
  d.axis = 2;
  d.intensity = "zscore";
  const PreparedCase cz = preprocess_case(info.cases[0], d);
  EXPECT_LT(cz.image[0], -0.5f);  // air is below the volume mean
  double mean = 0;
  for (float v : cz.image) mean += v;
  EXPECT_NEAR(mean / cz.image.size(), 0.0, 0.1);  // bilinear resizing keeps the z-scored mean near 0
}

// The ground truth of native-resolution evaluation: the same slicing and row/column axes as the
// prepared grid (identical to it when image_size is the native size), the source spacing, no resizing.
TEST(Preprocess, NativeLabelSharesTheSlicingOfThePreparedGrid) {
  TempDir dir("native");
  write_synthetic_dataset(dir.str("ds"), small_synth(1));
  const DatasetInfo info = read_dataset(dir.str("ds"));
  DataConfig d;
  d.path = dir.str("ds");
  d.image_size = 32;  // the native in-plane size: resizing is the identity
  const PreparedCase c = preprocess_case(info.cases[0], d);
  const NativeLabel n = load_native_label(info.cases[0], d);
  EXPECT_EQ(n.slices, 6);
  EXPECT_EQ(n.rows, 32);
  EXPECT_EQ(n.cols, 32);
  EXPECT_EQ(n.label, c.label);
  EXPECT_NEAR(n.spacing[0], 2.5, 1e-6);  // float32 in the NIfTI header
  EXPECT_NEAR(n.spacing[1], 0.8, 1e-6);
  d.axis = 0;  // slices along x: rows = z, columns = y, at the source spacing
  const NativeLabel x = load_native_label(info.cases[0], d);
  EXPECT_EQ(x.slices, 32);
  EXPECT_EQ(x.rows, 6);
  EXPECT_EQ(x.cols, 32);
  EXPECT_NEAR(x.spacing[0], 0.8, 1e-6);
  EXPECT_NEAR(x.spacing[1], 2.5, 1e-6);
  const Volume raw = read_nifti(info.cases[0].label);
  // Pixel (row r = z, column q = y) of slice s = x is voxel (s, q, r).
  int mismatches = 0, foreground = 0;
  for (int sx = 0; sx < 32; ++sx)
    for (int r = 0; r < 6; ++r)
      for (int q = 0; q < 32; ++q) {
        const int want = raw.at(sx, q, r) > 0 ? 1 : 0;
        foreground += want;
        mismatches += x.label[(static_cast<std::size_t>(sx) * 6 + r) * 32 + q] != want;
      }
  EXPECT_GT(foreground, 0);
  EXPECT_EQ(mismatches, 0);
}

TEST(Preprocess, CacheIsReusedKeyedAndSafeUnderConcurrentStarts) {
  TempDir dir("cache");
  write_synthetic_dataset(dir.str("ds"), small_synth(1));
  const DatasetInfo info = read_dataset(dir.str("ds"));
  DataConfig d;
  d.path = dir.str("ds");
  d.cache_dir = dir.str("cache");
  d.image_size = 16;
  bool hit = true;
  const PreparedCase first = load_case(info.cases[0], d, &hit);
  EXPECT_FALSE(hit);
  const PreparedCase second = load_case(info.cases[0], d, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(first.image, second.image);
  EXPECT_EQ(first.label, second.label);
  // Another setting is another key.
  DataConfig d2 = d;
  d2.window_max = 300;
  EXPECT_NE(preprocessing_key(info.cases[0], d), preprocessing_key(info.cases[0], d2));
  load_case(info.cases[0], d2, &hit);
  EXPECT_FALSE(hit);
  // A corrupted cache file is recomputed, not trusted.
  for (const auto& e : fs::directory_iterator(d.cache_dir)) {
    const std::string bytes = read_all(e.path().string());
    write_all(e.path().string(), bytes.substr(0, bytes.size() / 2));
  }
  EXPECT_EQ(load_case(info.cases[0], d, &hit).image, first.image);
  EXPECT_FALSE(hit);
  // Several "ranks" starting at once on an empty cache all get the same case, exactly one of them
  // preprocesses it (the others wait on its lock and read the file), and no temporary file is left.
  auto count_files = [&](const std::string& suffix) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(d.cache_dir)) {
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
      const std::string name = e.path().filename().string();
      n += name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    return n;
  };
  fs::remove_all(d.cache_dir);
  std::vector<std::thread> threads;
  std::vector<PreparedCase> got(4);
  bool hits[4] = {true, true, true, true};
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = load_case(info.cases[0], d, &hits[t]); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g.image, first.image);
  EXPECT_EQ(std::count(hits, hits + 4, false), 1);
  EXPECT_EQ(count_files(".bin"), 1);
  EXPECT_TRUE(load_case(info.cases[0], d, &hit).label == first.label && hit);
  // The same with processes (ranks of a job): each child exits 10 when it preprocessed, 11 on a cache hit.
  fs::remove_all(d.cache_dir);
  std::vector<pid_t> children;
  for (int k = 0; k < 3; ++k) {
    pid_t pid = fork();
    if (pid == 0) {
      bool h = false;
      const PreparedCase c = load_case(info.cases[0], d, &h);
      _exit(c.image == first.image ? (h ? 11 : 10) : 1);
    }
    children.push_back(pid);
  }
  int preprocessed = 0, read = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    preprocessed += WEXITSTATUS(status) == 10;
    read += WEXITSTATUS(status) == 11;
  }
  EXPECT_EQ(preprocessed, 1);
  EXPECT_EQ(read, 2);
  EXPECT_EQ(count_files(".bin"), 1);
}

TEST(Splits, FoldsCoverEveryCaseOnceWithoutPatientOverlapAndAreStable) {
  std::vector<std::string> cases;
  for (int i = 0; i < 23; ++i) cases.push_back("case_" + std::to_string(i));
  StudyConfig s;
  s.folds = 5;
  s.seed = 42;
  s.validation_fraction = 0.2;
  const auto folds = trainer::make_splits(cases, s, 0);
  ASSERT_EQ(folds.size(), 5u);
  std::multiset<std::string> tested;
  for (const auto& f : folds) {
    std::set<std::string> tr(f.train.begin(), f.train.end()), va(f.val.begin(), f.val.end()), te(f.test.begin(), f.test.end());
    for (const auto& c : te) {
      EXPECT_FALSE(tr.count(c)) << c;
      EXPECT_FALSE(va.count(c)) << c;
    }
    for (const auto& c : va) EXPECT_FALSE(tr.count(c)) << c;
    EXPECT_EQ(tr.size() + va.size() + te.size(), cases.size());
    EXPECT_GE(te.size(), 4u);
    EXPECT_LE(te.size(), 5u);
    EXPECT_FALSE(va.empty());
    tested.insert(f.test.begin(), f.test.end());
  }
  EXPECT_EQ(tested, std::multiset<std::string>(cases.begin(), cases.end()));
  // Stable: the same folds for the same seed, whatever the input order; others for another seed/repeat.
  std::vector<std::string> reversed(cases.rbegin(), cases.rend());
  const auto again = trainer::make_splits(reversed, s, 0);
  for (std::size_t f = 0; f < folds.size(); ++f) {
    EXPECT_EQ(folds[f].test, again[f].test);
    EXPECT_EQ(folds[f].val, again[f].val);
  }
  EXPECT_NE(trainer::make_splits(cases, s, 1)[0].test, folds[0].test);
  // Pinned: the permutation algorithm is our own, so this holds on every platform. Character i is the test
  // fold of case_i for seed 42, repeat 0; then fold 0's validation cases. A change here re-deals the folds
  // of every stored study (their fold rows would no longer match a re-run).
  std::string fold_of(cases.size(), '?');
  for (std::size_t f = 0; f < folds.size(); ++f)
    for (const auto& c : folds[f].test) fold_of[std::stoi(c.substr(5))] = static_cast<char>('0' + f);
  EXPECT_EQ(fold_of, "00304201302312241143412");
  std::vector<std::string> val0 = folds[0].val;
  std::sort(val0.begin(), val0.end());
  std::string val_text;
  for (const auto& c : val0) val_text += c + " ";
  EXPECT_EQ(val_text, "case_2 case_20 case_7 case_8 ");
  // Fixed ratios.
  s.split = {0.7, 0.1, 0.2};
  const auto fixed = trainer::make_splits(cases, s, 0);
  ASSERT_EQ(fixed.size(), 1u);
  EXPECT_EQ(fixed[0].test.size(), 5u);
  EXPECT_EQ(fixed[0].val.size(), 2u);
  EXPECT_EQ(fixed[0].train.size(), 16u);
  s.split = {0.7, 0.1};
  EXPECT_NE(error_of([&] { trainer::make_splits(cases, s, 0); }).find("study.split"), std::string::npos);
  s.split.clear();
  s.folds = 30;
  EXPECT_NE(error_of([&] { trainer::make_splits(cases, s, 0); }).find("study.folds"), std::string::npos);
  EXPECT_NE(error_of([&] { trainer::make_splits({"a", "a", "b"}, s, 0); }).find("duplicate"), std::string::npos);
}

TEST(Augment, ImageAndLabelStayAligned) {
  // The image is the label itself (as float): after any flip/rotation the two must still coincide.
  const int n = 8, size = 32;
  torch::Tensor labels = torch::zeros({n, size, size}, torch::kUInt8);
  for (int i = 0; i < n; ++i) labels[i].slice(0, 4 + i, 14 + i).slice(1, 6, 20 - i) = 1;  // asymmetric boxes
  Batch batch{labels.unsqueeze(1).to(torch::kFloat32), labels};
  AugmentConfig cfg;
  cfg.flip_p = 0.5;
  cfg.rotate_p = 1.0;
  cfg.rotate_degrees = 10.0;
  cfg.blur_p = 0.0;
  Rng rng(3);
  const Batch out = augment(batch, cfg, rng);
  EXPECT_EQ(out.labels.scalar_type(), torch::kUInt8);  // converted to class indices on the device
  EXPECT_FALSE(torch::equal(out.labels, labels));  // something happened
  const double agree = (out.images.squeeze(1) > 0.5).eq(out.labels.to(torch::kBool)).to(torch::kFloat32).mean().item<double>();
  EXPECT_GT(agree, 0.98);
  // The label stays a label map (nearest neighbour), and its area survives a small rotation.
  EXPECT_TRUE(torch::logical_or(out.labels == 0, out.labels == 1).all().item<bool>());
  EXPECT_NEAR(out.labels.sum().item<double>(), labels.sum().item<double>(), 0.1 * labels.sum().item<double>());
  // A flip alone is exact for both; the same seed gives the same draws.
  cfg.flip_p = 1.0;
  cfg.rotate_p = 0.0;
  Rng r1(5), r2(5);
  const Batch flipped = augment(batch, cfg, r1);
  EXPECT_TRUE(torch::equal(flipped.labels, labels.flip({2})));
  EXPECT_TRUE(torch::allclose(flipped.images, batch.images.flip({3})));
  EXPECT_TRUE(torch::equal(augment(batch, cfg, r2).images, flipped.images));
  // Blur changes the image only.
  cfg.flip_p = 0.0;
  cfg.blur_p = 1.0;
  Rng r3(9);
  const Batch blurred = augment(batch, cfg, r3);
  EXPECT_TRUE(torch::equal(blurred.labels, labels));
  EXPECT_FALSE(torch::allclose(blurred.images, batch.images));
  EXPECT_NEAR(blurred.images.sum().item<double>(), batch.images.sum().item<double>(), 0.02 * batch.images.sum().item<double>());
}

// Stacking one case at a time gives the same tensors as stacking them all at once, and refuses a case that
// does not fit the sizes given up front.
TEST(Loader, StackerAddsCasesOneAtATime) {
  auto make = [](const std::string& id, int slices, int size, float value) {
    PreparedCase c;
    c.id = id;
    c.slices = slices;
    c.size = size;
    c.image.assign(static_cast<std::size_t>(slices) * size * size, value);
    c.label.assign(static_cast<std::size_t>(slices) * size * size, 0);
    c.label[0] = 1;  // the first slice holds foreground
    return c;
  };
  const PreparedCase a = make("a", 3, 4, 0.25f), b = make("b", 2, 4, 0.75f);
  const SliceTensors all = stack_cases({&a, &b});
  SliceStacker stack(5, 4);
  stack.add(a);
  stack.add(b);
  const SliceTensors one = stack.take();
  EXPECT_TRUE(torch::equal(all.images, one.images));
  EXPECT_TRUE(torch::equal(all.labels, one.labels));
  EXPECT_EQ(one.foreground, (std::vector<std::uint8_t>{1, 0, 0, 1, 0}));
  EXPECT_EQ(one.case_of, (std::vector<int>{0, 0, 0, 1, 1}));
  SliceStacker small(4, 4);
  small.add(a);
  EXPECT_NE(error_of([&] { small.add(b); }).find("case b: more slices"), std::string::npos);
  SliceStacker other(3, 8);
  EXPECT_NE(error_of([&] { other.add(a); }).find("case a: slice size differs"), std::string::npos);
  SliceStacker partial(5, 4);
  partial.add(a);
  EXPECT_NE(error_of([&] { partial.take(); }).find("stacked 3 of 5 slices"), std::string::npos);
}

// The header of a cache file tells a case's shape without its slices; a case not in the cache has none.
TEST(Preprocess, CachedCaseShapeReadsTheHeader) {
  TempDir dir("shape");
  write_synthetic_dataset(dir.str("ds"), small_synth(1));
  const DatasetInfo info = read_dataset(dir.str("ds"));
  DataConfig d;
  d.path = dir.str("ds");
  d.cache_dir = dir.str("cache");
  d.image_size = 16;
  int slices = 0, size = 0;
  EXPECT_FALSE(cached_case_shape(info.cases[0], d, slices, size));
  load_case(info.cases[0], d);
  ASSERT_TRUE(cached_case_shape(info.cases[0], d, slices, size));
  EXPECT_EQ(slices, 6);
  EXPECT_EQ(size, 16);
  d.image_size = 8;  // another setting: another key, not in the cache
  EXPECT_FALSE(cached_case_shape(info.cases[0], d, slices, size));
}

TEST(Loader, EpochOrderKeepsForegroundSlicesAndSubsamplesEmptyOnes) {
  PreparedCase c;
  c.id = "c";
  c.slices = 20;
  c.size = 8;
  c.image.assign(20 * 64, 0.5f);
  c.label.assign(20 * 64, 0);
  for (int s = 0; s < 5; ++s) c.label[s * 64 + 10] = 1;  // slices 0..4 hold foreground
  const SliceTensors t = stack_cases({&c});
  EXPECT_EQ(t.size(), 20);
  DataConfig d;
  d.empty_slice_ratio = 0.2;
  const TrainBatches batches(t, d, 4, 0, 77);
  const auto order = batches.epoch_order(1);
  EXPECT_EQ(order.size(), 5u + 3u);  // all 5 with foreground + round(0.2 * 15) without
  std::set<std::int64_t> seen(order.begin(), order.end());
  for (int s = 0; s < 5; ++s) EXPECT_TRUE(seen.count(s));
  EXPECT_EQ(batches.epoch_order(1), order);
  EXPECT_NE(batches.epoch_order(2), order);
  EXPECT_EQ(batches.steps(order), 2);
  const Batch last = batches.get(order, 1, 1, false);
  EXPECT_EQ(last.images.size(0), 4);
  EXPECT_EQ(last.labels.scalar_type(), torch::kUInt8);
  const Batch a = batches.get(order, 1, 0), b = batches.get(order, 1, 0);
  EXPECT_TRUE(torch::equal(a.images, b.images));
}
