// The store's searches (schema 3): trials as proposed, and the validation objective of each trial.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "db/sqlite.hpp"
#include "db/store.hpp"

namespace ablate::db {

void Store::record_trial(std::int64_t study_id, const TrialRow& t, const VariantRow& v, const std::string& components) {
  Transaction tx(*impl_);
  Stmt st(*impl_,
          "INSERT INTO trials(study_id, declared, trial, variant, method, point, seen, proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, study_id).bind(2, t.declared).bind(3, t.trial).bind(4, t.variant).bind(5, t.method).bind(6, t.point)
      .bind(7, t.seen).bind(8, t.proposed);
  st.run();
  upsert_variant(study_id, v, components);
  ensure_tasks(study_id);
  tx.commit();
}

std::vector<TrialRow> Store::trials(std::int64_t study_id) const {
  std::vector<TrialRow> out;
  Stmt st(*impl_,
          "SELECT declared, trial, variant, method, point, seen, proposed FROM trials WHERE study_id = ? "
          "ORDER BY proposed, rowid");
  st.bind(1, study_id);
  while (st.step()) out.push_back({st.text(0), st.i32(1), st.text(2), st.text(3), st.text(4), st.text(5), st.f64(6)});
  return out;
}

std::map<std::string, Objective> Store::validation_objective(std::int64_t study_id, const std::string& objective) const {
  // The validation value best-epoch selection compared (epochs.val_score: train.select_metric, which a
  // search's objective is), never a test metric. Rows written before schema 2 have no val_score: their
  // validation Dice or loss stands in for those two objectives.
  const std::string column = objective == "dice" ? "coalesce(e.val_score, e.val_dice)"
                             : objective == "loss" ? "coalesce(e.val_score, e.val_loss)"
                                                   : "e.val_score";
  // Epochs spent: a shared training's epochs count once, at its trainer when that is done from it, else at
  // the lowest-id done task evaluated from it.
  const std::string once =
      schema_version() >= 4
          ? " AND (u.trained_by IS NULL OR u.id = (SELECT w.id FROM tasks w WHERE w.trained_by = u.trained_by AND "
            "w.status = 'done' ORDER BY w.id <> w.trained_by, w.id LIMIT 1))"
          : "";
  std::map<std::string, Objective> out;
  Stmt st(*impl_,
          "SELECT v.name, avg(" + column + "), count(*), "
          "(SELECT count(*) FROM tasks u WHERE u.variant_id = v.id), "
          "(SELECT count(*) FROM tasks u JOIN epochs e2 ON e2.task_id = u.id WHERE u.variant_id = v.id AND u.status = 'done'" +
              once + ") "
          "FROM tasks t JOIN variants v ON v.id = t.variant_id "
          "JOIN epochs e ON e.task_id = t.id AND e.epoch = t.best_epoch "
          "WHERE t.study_id = ? AND t.status = 'done' GROUP BY v.id");
  st.bind(1, study_id);
  while (st.step()) out[st.text(0)] = Objective{st.f64(1), st.i32(2), st.i32(3), st.i32(4)};
  return out;
}

}  // namespace ablate::db
