package org.saqshy.bench;

/** The rules' distance (rules/geo.py distance_m, docs/semantics.md "Distances"): a local flat-earth projection
 *  on WGS84 at the pair's mean latitude, the same arithmetic in the same order so that results agree to the
 *  last bit. Only its city-scale branch: Vincenty's fallback (pairs beyond ~19 km at 43°) is left out, which
 *  cannot change a comparison against radii of a few hundred metres. */
public final class Geo {
  private static final double A = 6378137.0;
  private static final double F = 1.0 / 298.257223563;
  private static final double E2 = F * (2.0 - F);
  private static final double RAD = Math.PI / 180.0;
  private static final double A_RAD = A * RAD;
  private static final double ONE_MINUS_E2 = 1.0 - E2;

  private Geo() {}

  /** Metres between two points; null (so never within a radius) when either point is missing. */
  public static Double dist(Double lat1, Double lon1, Double lat2, Double lon2) {
    if (lat1 == null || lon1 == null || lat2 == null || lon2 == null) {
      return null;
    }
    double dlon = lon2 - lon1;
    if (dlon > 180.0) {
      dlon -= 360.0;
    } else if (dlon < -180.0) {
      dlon += 360.0;
    }
    double phi = (lat1 + lat2) * (0.5 * RAD);
    double s = Math.sin(phi);
    double c = Math.cos(phi);
    double w2 = 1.0 - E2 * s * s;
    double n = A_RAD / Math.sqrt(w2);
    double dy = n * ONE_MINUS_E2 / w2 * (lat2 - lat1);
    double dx = n * c * dlon;
    return Math.sqrt(dx * dx + dy * dy);
  }
}
