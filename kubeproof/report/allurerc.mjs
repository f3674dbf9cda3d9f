// Allure 3 (npm package "allure", no Java): one self-contained HTML file from --alluredir results.
//   ALLURE_NO_ANALYTICS=true npx allure generate --config kubeproof/report/allurerc.mjs \
//       --output allure-report allure-results
// The allure2 plugin is used because it honours ALLURE_NO_ANALYTICS (Allure 3.18's "awesome"
// report always adds a Google Analytics tag, which an audit report should not carry).
export default {
  name: "kubeproof audit",
  plugins: {
    allure2: { options: { singleFile: true, reportName: "kubeproof audit" } },
  },
};
