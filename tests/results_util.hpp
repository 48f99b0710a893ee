// What a study's results are, read from a store by natural keys (never row ids), for the tests that prove two
// ways of running a study give the same results (a job array's shards merged against one run:
// cli_array_test, composition_test): per task its status, every epoch's losses and validation score and every
// fold and case metric, numbers to 17 digits, one line each, sorted.
#pragma once

#include <string>

#include "db/store.hpp"

namespace results_util {

inline std::string results(const std::string& db) {
  const std::string task = "v.name || ' f' || f.fold || ' r' || f.repeat";
  const std::string from = " FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id ";
  return ablate::db::Store(db, true).query_text(
      "SELECT group_concat(line, char(10)) FROM ("
      "SELECT " + task + " || ' ' || t.status AS line" + from +
      "UNION ALL SELECT " + task + " || ' epoch ' || e.epoch || printf(' %.17g %.17g %.17g', e.train_loss, e.val_loss, e.val_score)" +
      from + "JOIN epochs e ON e.task_id = t.id "
      "UNION ALL SELECT " + task + " || ' ' || m.metric || ' ' || m.class || printf(' %.17g', m.value)" + from +
      "JOIN task_metrics m ON m.task_id = t.id "
      "UNION ALL SELECT " + task + " || ' ' || m.case_id || ' ' || m.metric || ' ' || m.class || printf(' %.17g', m.value)" +
      from + "JOIN task_case_metrics m ON m.task_id = t.id "
      "ORDER BY line)");
}

}  // namespace results_util
