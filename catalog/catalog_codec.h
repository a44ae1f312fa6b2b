// The catalog's stored forms (docs/store-layout.md, "Catalog"): a whole
// catalog ("format": 1) and a delta on the version before ("format": 2), one
// JSON object per version.
#pragma once

#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "catalog/catalog_delta.h"
#include "common/status.h"

namespace strata {

std::string EncodeCatalog(const CatalogData& c);
std::string EncodeCatalogDelta(const CatalogDelta& d);

// One stored catalog version: exactly one of the two is set.
struct CatalogObject {
  std::optional<CatalogData> whole;
  std::optional<CatalogDelta> delta;
};

// Decodes either form; kCorruption naming `name` on anything else.
Result<CatalogObject> DecodeCatalogObject(const std::string& data, const std::string& name);
// A whole catalog only: kCorruption for a delta.
Result<CatalogData> DecodeCatalog(const std::string& data, const std::string& name);

}  // namespace strata
