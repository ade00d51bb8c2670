// The layer tree's item model (see component_tree_model.h).
#include "component_tree_model.h"

#include <QBrush>
#include <QColor>
#include <QFont>
#include <QPainter>
#include <QPixmap>

#include <algorithm>
#include <cmath>
#include <functional>

#include "formatting.h"

namespace shedder::ui {

struct ComponentTreeModel::Node {
  ComponentInfo info;  // children moved out into `children`
  Node* parent = nullptr;
  int row = 0;
  std::vector<std::unique_ptr<Node>> children;
};

namespace {

QString kindLabel(const ComponentInfo& c, const ModelInfo& m) {
  const QString& arch = m.arch;
  if (c.kind == QLatin1String("model"))  // "Zamba2 (Zamba2ForCausalLM): 6 layers ..." -> "Zamba2 model"
    return m.description.isEmpty() ? QStringLiteral("model")
                                   : m.description.section(QLatin1Char(' '), 0, 0) + QStringLiteral(" model");
  if (c.kind == QLatin1String("block")) return QStringLiteral("Mamba block");
  if (c.kind == QLatin1String("ssm")) return QStringLiteral("SSM (selective scan)");
  if (c.kind == QLatin1String("heads")) return QStringLiteral("SSM heads × %1").arg(c.count);
  // Hybrid models (core/model/zamba2_model.h, hymba_model.h).
  if (c.kind == QLatin1String("hybrid_block"))
    return arch == QLatin1String("hymba") ? QStringLiteral("Hymba block (attention ∥ SSM heads)")
                                          : QStringLiteral("Hybrid block (shared transformer + Mamba)");
  if (c.kind == QLatin1String("shared_block")) return QStringLiteral("Shared transformer use");
  if (c.kind == QLatin1String("shared_weights")) return QStringLiteral("Shared transformer block");
  if (c.kind == QLatin1String("attn_heads"))
    return c.count == 1 ? QStringLiteral("Attention head") : QStringLiteral("Attention heads × %1 (GQA group)").arg(c.count);
  if (c.kind == QLatin1String("mlp_channels")) return QStringLiteral("MLP channels × %1").arg(c.count);
  if (c.kind == QLatin1String("ssm_heads")) return QStringLiteral("SSM head (%1 channels)").arg(c.count);
  if (c.kind == QLatin1String("attention")) return QStringLiteral("Attention heads");
  if (c.kind == QLatin1String("mlp")) return QStringLiteral("MLP");
  // Pure Mamba models' width components (core/model/mamba_width.h).
  if (c.kind == QLatin1String("mixer_channels")) return QStringLiteral("Mixer channels × %1").arg(c.count);
  if (c.kind == QLatin1String("ssm_state")) return QStringLiteral("State dimensions × %1").arg(c.count);
  return c.kind;
}

QColor kindColor(const QString& kind) {
  if (kind == QLatin1String("model")) return QColor(0x44, 0x55, 0x66);
  if (kind == QLatin1String("block")) return QColor(0x1f, 0x77, 0xb4);
  if (kind == QLatin1String("ssm")) return QColor(0x94, 0x67, 0xbd);
  if (kind == QLatin1String("hybrid_block")) return QColor(0x2c, 0xa0, 0x2c);
  if (kind == QLatin1String("shared_block") || kind == QLatin1String("shared_weights")) return QColor(0xff, 0x7f, 0x0e);
  if (kind == QLatin1String("attn_heads")) return QColor(0xd6, 0x27, 0x28);
  if (kind == QLatin1String("mlp_channels") || kind == QLatin1String("mlp")) return QColor(0x8c, 0x56, 0x4b);
  if (kind == QLatin1String("attention")) return QColor(0xd6, 0x27, 0x28);
  if (kind == QLatin1String("ssm_heads") || kind == QLatin1String("ssm_state")) return QColor(0x94, 0x67, 0xbd);
  if (kind == QLatin1String("mixer_channels")) return QColor(0x8c, 0x56, 0x4b);
  return QColor(0x17, 0xbe, 0xcf);
}

QPixmap kindIcon(const QString& kind) {
  static QHash<QString, QPixmap> cache;
  auto it = cache.find(kind);
  if (it != cache.end()) return *it;
  QPixmap pm(12, 12);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(Qt::NoPen);
  p.setBrush(kindColor(kind));
  if (kind == QLatin1String("block") || kind == QLatin1String("model") || kind == QLatin1String("hybrid_block") ||
      kind == QLatin1String("shared_weights"))
    p.drawRoundedRect(QRectF(1, 1, 10, 10), 2, 2);
  else
    p.drawEllipse(QRectF(1.5, 1.5, 9, 9));
  p.end();
  cache.insert(kind, pm);
  return pm;
}

const char* statusText(ComponentTreeModel::Status s) {
  switch (s) {
    case ComponentTreeModel::Status::Kept: return "kept";
    case ComponentTreeModel::Status::Marked: return "marked";
    case ComponentTreeModel::Status::Removed: return "removed";
  }
  return "";
}

}  // namespace

ComponentTreeModel::ComponentTreeModel(QObject* parent) : QAbstractItemModel(parent) {}
ComponentTreeModel::~ComponentTreeModel() = default;

void ComponentTreeModel::setModelInfo(const ModelInfo& info) {
  beginResetModel();
  info_ = info;
  countedKey_.clear();
  byId_.clear();
  marked_.clear();
  removed_.clear();
  importance_.clear();
  importanceLabel_.clear();
  std::function<std::unique_ptr<Node>(const ComponentInfo&, Node*, int)> build = [&](const ComponentInfo& c, Node* parent,
                                                                                       int row) {
    auto n = std::make_unique<Node>();
    n->info = c;
    n->info.children.clear();
    n->parent = parent;
    n->row = row;
    byId_.insert(c.id, n.get());
    for (size_t i = 0; i < c.children.size(); ++i) n->children.push_back(build(c.children[i], n.get(), static_cast<int>(i)));
    return n;
  };
  root_ = build(info.tree, nullptr, 0);
  info_.tree.children.clear();  // the nodes hold the tree now
  endResetModel();
  Q_EMIT headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
  Q_EMIT markedChanged(marked_);
  Q_EMIT totalsChanged();
}

void ComponentTreeModel::clear() {
  beginResetModel();
  info_ = ModelInfo{};
  root_.reset();
  byId_.clear();
  marked_.clear();
  removed_.clear();
  importance_.clear();
  importanceLabel_.clear();
  endResetModel();
  Q_EMIT headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
  Q_EMIT markedChanged(marked_);
  Q_EMIT totalsChanged();
}

ComponentTreeModel::Node* ComponentTreeModel::find(const QString& id) const { return byId_.value(id, nullptr); }

ComponentTreeModel::Node* ComponentTreeModel::nodeOf(const QModelIndex& index) const {
  return index.isValid() ? static_cast<Node*>(index.internalPointer()) : nullptr;
}

QModelIndex ComponentTreeModel::indexOfNode(const Node* n, int column) const {
  if (!n) return {};
  return createIndex(n->row, column, const_cast<Node*>(n));
}

QModelIndex ComponentTreeModel::indexOf(const QString& id, int column) const { return indexOfNode(find(id), column); }

ComponentTreeModel::Status ComponentTreeModel::status(const Node* n) const {
  Status s = Status::Kept;
  for (const Node* p = n; p; p = p->parent) {
    if (removed_.contains(p->info.id)) return Status::Removed;
    if (marked_.contains(p->info.id)) s = Status::Marked;
  }
  return s;
}

ComponentTreeModel::Status ComponentTreeModel::statusOf(const QString& id) const {
  const Node* n = find(id);
  return n ? status(n) : Status::Kept;
}

bool ComponentTreeModel::restorable(const Node* n) const {
  if (!removed_.contains(n->info.id)) return false;
  for (const Node* p = n->parent; p; p = p->parent)
    if (removed_.contains(p->info.id)) return false;
  return true;
}

bool ComponentTreeModel::checkable(const Node* n) const {
  if (!n->info.removable()) return false;
  if (removed_.contains(n->info.id)) return false;
  for (const Node* p = n->parent; p; p = p->parent)
    if (removed_.contains(p->info.id) || marked_.contains(p->info.id)) return false;
  return true;
}

QStringList ComponentTreeModel::removalSet() const {
  QStringList out = removed_;
  for (const QString& id : marked_)
    if (!out.contains(id)) out << id;
  return out;
}

qint64 ComponentTreeModel::removedParameters() const {
  const QStringList ids = removalSet();
  if (ids.isEmpty()) return 0;
  const QString key = ids.join(QLatin1Char(','));
  if (key == countedKey_) return counted_;
  qint64 n = -1;
  if (info_.countRemoved) n = info_.countRemoved(ids);  // the engine's count: exact for every kind and overlap
  if (n < 0) {
    // No engine (a hand-made ModelInfo) or a set the model cannot compute with: the components not inside another
    // removed one, summed.
    n = 0;
    for (const QString& id : ids) {
      const Node* node = find(id);
      if (!node) continue;
      bool covered = false;
      for (const Node* p = node->parent; p && !covered; p = p->parent) covered = ids.contains(p->info.id);
      if (!covered) n += node->info.parameters;
    }
  }
  countedKey_ = key;
  counted_ = n;
  return n;
}

double ComponentTreeModel::removedPercent() const {
  return totalParameters() > 0 ? 100.0 * static_cast<double>(removedParameters()) / static_cast<double>(totalParameters()) : 0.0;
}

void ComponentTreeModel::refreshAll() {
  if (!root_) return;
  // Status, check state and fonts of any row may change with an ancestor: refresh every row.
  std::function<void(const Node*)> walk = [&](const Node* n) {
    Q_EMIT dataChanged(indexOfNode(n, 0), indexOfNode(n, ColumnCount - 1));
    for (const auto& c : n->children) walk(c.get());
  };
  walk(root_.get());
  Q_EMIT headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
  Q_EMIT totalsChanged();
}

QStringList ComponentTreeModel::markable(const QStringList& ids) const {
  QStringList clean;
  for (const QString& id : ids) {
    const Node* n = find(id);
    if (n && n->info.removable() && !removed_.contains(id) && !clean.contains(id)) clean << id;
  }
  // A marked component covers what it contains (a block its SSM, an attention branch its heads).
  QStringList out;
  for (const QString& id : clean) {
    bool covered = false;
    for (const Node* p = find(id)->parent; p && !covered; p = p->parent) covered = clean.contains(p->info.id);
    if (!covered) out << id;
  }
  return out;
}

void ComponentTreeModel::setMarked(const QStringList& ids) {
  const QStringList out = markable(ids);
  if (out == marked_) return;
  marked_ = out;
  refreshAll();
  Q_EMIT markedChanged(marked_);
}

bool ComponentTreeModel::restoreRemoved(const QString& id) {
  if (!removed_.contains(id)) return false;
  QStringList marks = removed_ + marked_;
  marks.removeAll(id);
  removed_.clear();
  marked_ = markable(marks);
  refreshAll();
  Q_EMIT markedChanged(marked_);
  return true;
}

bool ComponentTreeModel::setMarkedId(const QString& id, bool marked) {
  const Node* n = find(id);
  if (!n || !n->info.removable()) return false;
  QStringList next = marked_;
  if (marked) {
    if (!checkable(n)) return false;
    if (next.contains(id)) return true;
    next << id;
  } else {
    if (!next.removeAll(id)) return false;
  }
  setMarked(next);
  return true;
}

void ComponentTreeModel::setRemoved(const QStringList& ids) {
  QStringList out;
  for (const QString& id : ids)
    if (find(id) && !out.contains(id)) out << id;
  if (out == removed_) return;
  removed_ = out;
  // What is removed cannot stay marked.
  QStringList m;
  for (const QString& id : marked_)
    if (status(find(id)) != Status::Removed) m << id;
  const bool markChange = m != marked_;
  marked_ = m;
  refreshAll();
  if (markChange) Q_EMIT markedChanged(marked_);
}

void ComponentTreeModel::setImportance(const QHash<QString, double>& values, const QString& label,
                                       const QSet<QString>& lowerBounds) {
  importance_ = values;
  lowerBounds_ = lowerBounds;
  importanceLabel_ = label;
  importanceMin_ = importanceMax_ = 0;
  bool first = true;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (first) {
      importanceMin_ = importanceMax_ = v;
      first = false;
    }
    importanceMin_ = std::min(importanceMin_, v);
    importanceMax_ = std::max(importanceMax_, v);
  }
  // One outlier (a Zamba2 layers.0 at Δppl 10 437 beside others below 5) would flatten every other bar: when the
  // largest distance from the minimum is over 50 times the median one, the bars use a log scale of that distance
  // (log1p(d / u) / log1p(max / u), u = median / 8: the median bar about a quarter long), and the header says so.
  std::vector<double> d;
  for (double v : values)
    if (std::isfinite(v)) d.push_back(v - importanceMin_);
  importanceScale_ = 0;
  if (d.size() >= 3) {
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
    const double median = d[d.size() / 2];
    if (median > 0 && importanceMax_ - importanceMin_ > 50 * median) importanceScale_ = median / 8;
  }
  refreshAll();
}

void ComponentTreeModel::clearImportance() { setImportance({}, QString()); }

QModelIndex ComponentTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!root_ || row < 0 || column < 0 || column >= ColumnCount) return {};
  if (!parent.isValid()) return row == 0 ? indexOfNode(root_.get(), column) : QModelIndex();
  if (parent.column() != 0) return {};
  const Node* p = nodeOf(parent);
  if (!p || row >= static_cast<int>(p->children.size())) return {};
  return indexOfNode(p->children[static_cast<size_t>(row)].get(), column);
}

QModelIndex ComponentTreeModel::parent(const QModelIndex& child) const {
  const Node* n = nodeOf(child);
  if (!n || !n->parent) return {};
  return indexOfNode(n->parent, 0);
}

int ComponentTreeModel::rowCount(const QModelIndex& parent) const {
  if (!root_) return 0;
  if (!parent.isValid()) return 1;
  if (parent.column() != 0) return 0;
  const Node* p = nodeOf(parent);
  return p ? static_cast<int>(p->children.size()) : 0;
}

int ComponentTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant ComponentTreeModel::data(const QModelIndex& index, int role) const {
  const Node* n = nodeOf(index);
  if (!n) return {};
  const ComponentInfo& c = n->info;
  const Status st = status(n);
  const bool scored = importance_.contains(c.id);
  switch (role) {
    case IdRole: return c.id;
    case StatusRole: return static_cast<int>(st);
    case ParametersRole: return c.parameters;
    case RemovableRole: return c.removable();
    case ImportanceRole: return scored ? QVariant(importance_.value(c.id)) : QVariant();
    case ImportanceFractionRole: {
      if (!scored) return {};
      const double v = importance_.value(c.id), span = importanceMax_ - importanceMin_;
      if (!std::isfinite(v)) return 1.0;
      if (importanceScale_ > 0)
        return std::log1p((v - importanceMin_) / importanceScale_) / std::log1p(span / importanceScale_);
      return span > 0 ? (v - importanceMin_) / span : 0.5;
    }
    default: break;
  }
  const int col = index.column();
  if (role == Qt::DisplayRole) {
    switch (col) {
      case NameColumn:
        if (c.kind == QLatin1String("model")) return info_.name.isEmpty() ? c.id : info_.name;
        return c.id;
      case KindColumn: return kindLabel(c, info_);
      case ParametersColumn: return formatCountExact(c.parameters);
      case ShareColumn:
        return info_.totalParameters > 0
                   ? QStringLiteral("%1 %").arg(100.0 * static_cast<double>(c.parameters) / static_cast<double>(info_.totalParameters), 0, 'f', 2)
                   : QString();
      case StatusColumn: {
        QString s = QString::fromLatin1(statusText(st));
        const int k = removed_.indexOf(c.id);
        if (k >= 0) s += QStringLiteral(" (#%1)").arg(k + 1);
        return s;
      }
      case ImportanceColumn:
        return !scored ? QString()
                       : (lowerBounds_.contains(c.id) ? QStringLiteral("≥ ") : QString()) +
                             QString::number(importance_.value(c.id), 'f', 3);
    }
    return {};
  }
  if (role == Qt::CheckStateRole && col == NameColumn && c.removable())
    return st == Status::Kept ? Qt::Unchecked : Qt::Checked;
  if (role == Qt::DecorationRole && col == NameColumn) return kindIcon(c.kind);
  if (role == Qt::TextAlignmentRole && (col == ParametersColumn || col == ShareColumn || col == ImportanceColumn))
    return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::ForegroundRole) {
    if (st == Status::Removed) return QBrush(QColor(0x99, 0x99, 0x99));
    if (col == StatusColumn && st == Status::Marked) return QBrush(QColor(0xc0, 0x5a, 0x00));
    return {};
  }
  if (role == Qt::FontRole) {
    QFont f;
    if (st == Status::Removed && col == NameColumn) f.setStrikeOut(true);
    if (c.kind == QLatin1String("model") || (col == StatusColumn && st != Status::Kept)) f.setBold(true);
    return f;
  }
  if (role == Qt::ToolTipRole) {
    QString t = QStringLiteral("<b>%1</b> — %2<br>%3 parameters (%4 of the model)<br>status: %5")
                    .arg(c.id, kindLabel(c, info_), formatCountExact(c.parameters))
                    .arg(info_.totalParameters > 0
                             ? QStringLiteral("%1 %").arg(100.0 * double(c.parameters) / double(info_.totalParameters), 0, 'f', 2)
                             : QStringLiteral("?"))
                    .arg(QString::fromLatin1(statusText(st)));
    if (scored)
      t += QStringLiteral("<br>%1: %2%3%4")
               .arg(importanceLabel_, lowerBounds_.contains(c.id) ? QStringLiteral("at least ") : QString())
               .arg(importance_.value(c.id), 0, 'f', 4)
               .arg(lowerBounds_.contains(c.id) ? QStringLiteral(" (the search stopped it early: it could not win the step)")
                                                : QString());
    if (const int k = removed_.indexOf(c.id); k >= 0)
      t += QStringLiteral("<br>Removed by the search (#%1). Uncheck it to restore it: the run's other removals become "
                          "marks (Edit ▸ Undo takes it back)")
               .arg(k + 1);
    if (c.kind == QLatin1String("ssm_state"))
      t += QStringLiteral("<br>State dimensions in the order the L1 norms of their B and C rows rank them, least "
                          "important first; the search takes a layer's chunks in that order");
    if (c.kind == QLatin1String("shared_weights"))
      t += QStringLiteral("<br>(the weights every use shares: mark its heads or channel groups, or a layer's use)");
    if (c.kind == QLatin1String("shared_block"))
      t += QStringLiteral("<br>Its parameters are what removing this use frees: the use's own weights, plus the shared "
                          "block's weights when no other use of them remains (so a block used once counts them all)");
    return t;
  }
  return {};
}

bool ComponentTreeModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  const Node* n = nodeOf(index);
  if (!n || role != Qt::CheckStateRole || index.column() != NameColumn || !(checkable(n) || restorable(n))) return false;
  const bool on = value.toInt() == Qt::Checked;
  if (removed_.contains(n->info.id)) {
    if (!on) Q_EMIT restoreRequested(n->info.id);  // the owner decides (not during a search)
    return !on;
  }
  return setMarkedId(n->info.id, on);
}

Qt::ItemFlags ComponentTreeModel::flags(const QModelIndex& index) const {
  const Node* n = nodeOf(index);
  if (!n) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
  if (index.column() == NameColumn && (checkable(n) || restorable(n))) f |= Qt::ItemIsUserCheckable;
  return f;
}

QVariant ComponentTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case NameColumn: return QStringLiteral("Component");
      case KindColumn: return QStringLiteral("Kind");
      case ParametersColumn:
        return root_ ? QStringLiteral("Parameters (kept %1)").arg(formatCount(keptParameters())) : QStringLiteral("Parameters");
      case ShareColumn:
        return root_ ? QStringLiteral("% of model (−%1 %)").arg(removedPercent(), 0, 'f', 1) : QStringLiteral("% of model");
      case StatusColumn: return QStringLiteral("Status");
      case ImportanceColumn:
        return (importanceLabel_.isEmpty() ? QStringLiteral("Importance") : importanceLabel_) +
               (importanceLogScale() ? QStringLiteral(" (log bars)") : QString());
    }
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case ParametersColumn:
        return QStringLiteral("Parameters that go away with each component; the header shows the parameters kept after "
                              "removing the marked and removed components (%1 of %2)")
            .arg(formatCountExact(keptParameters()), formatCountExact(totalParameters()));
      case ShareColumn: return QStringLiteral("Share of the model's parameters; the header shows the share removed");
      case StatusColumn: return QStringLiteral("kept, marked by you, or removed by the search (#: removal order)");
      case ImportanceColumn:
        return QStringLiteral("Last importance score: what removing the component would cost (perplexity increase for "
                              "the ppl metric, block influence 1 − cos for cosine); longer and redder bars cost more");
    }
  }
  return {};
}

}  // namespace shedder::ui
