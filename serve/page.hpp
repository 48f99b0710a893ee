// The two pages of `ablate serve` (internal to serve/): self-contained HTML, no external resource. Each
// carries one inline script, allowed by the response's Content-Security-Policy through `nonce`; the
// script polls the JSON API every `poll_ms` and writes store text into the page only as text nodes
// (textContent), never as markup. The one fragment it inserts as HTML is /study/results, drawn and
// escaped by the report's renderers on the server.
//
// Contract: pure functions of their arguments (the page text is a constant); any thread may call them;
// nothing throws.
#pragma once

#include <string>

namespace ablate::serve {

// The store's studies with their progress, each a link to its page.
std::string index_page(const std::string& nonce, int poll_ms);
// One study (/study?name=NAME): progress per variant and state, elapsed/ETA, workers busy, the curves of a
// variant's tasks, failures, search trials, early-stopping rungs and decisions, and the report's sections.
std::string study_page(const std::string& nonce, int poll_ms);

}  // namespace ablate::serve
